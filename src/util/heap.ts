/*
 * A binary heap kept in an array: the item `before` puts first is at index 0. Used where a pool walks its
 * accounts best- or worst-first (txpool ordering and eviction).
 */

/** Move the item at `start` up until its parent comes before it. */
export function siftUp<T>(heap: T[], start: number, before: (a: T, b: T) => boolean): void {
  for (let i = start; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) return;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

/** Move the item at `start` down until it comes before both its children. */
export function siftDown<T>(heap: T[], start: number, before: (a: T, b: T) => boolean): void {
  for (let i = start; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let best = i;
    if (l < heap.length && before(heap[l]!, heap[best]!)) best = l;
    if (r < heap.length && before(heap[r]!, heap[best]!)) best = r;
    if (best === i) return;
    [heap[i], heap[best]] = [heap[best]!, heap[i]!];
    i = best;
  }
}
