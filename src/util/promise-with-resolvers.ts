/**
 * ES2024's Promise.withResolvers, which js-libp2p's dependencies call, for Node.js 20 (it arrived in
 * Node.js 22). Installed only where missing, with the specification's behaviour; imported first by
 * every module that loads libp2p.
 */
interface WithResolvers {
  withResolvers<T>(): { promise: Promise<T>; resolve: (value: T | PromiseLike<T>) => void; reject: (reason?: unknown) => void };
}

if (typeof (Promise as unknown as Partial<WithResolvers>).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
