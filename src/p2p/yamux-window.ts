import { YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/**
 * Receive windows that count what is unread. @chainsafe/libp2p-yamux 7.0.4 (the last release for
 * libp2p 2.x) sends a window update each time the reader takes a chunk, granting back everything
 * received since the last update, however much of it still waits unread in the stream's queue. A
 * sender faster than its reader is never held back: a node restoring a peer's 214 MB snapshot slower
 * than the peer sent it held ~200 MB of it queued (anonymous memory 800 MB, the restore alone 440).
 * Here an update grants only the window less what is queued, as yamux's specification and go-yamux
 * do, so a stream holds at most one window (256 KiB growing to 16 MiB) of unread data.
 */
interface WindowFields {
  recvWindowCapacity: number;
  sourceReadableLength(): number;
  sendWindowUpdate(): void;
}

let installed = false;

export function installYamuxBackpressure(): void {
  if (installed) return;
  const proto = YamuxStream.prototype as unknown as WindowFields;
  const original = proto.sendWindowUpdate;
  if (typeof original !== 'function' || typeof proto.sourceReadableLength !== 'function') {
    throw new Error('@chainsafe/libp2p-yamux has changed: review p2p/yamux-window.ts');
  }
  proto.sendWindowUpdate = function (this: WindowFields) {
    // Unread bytes count as not yet granted back: the update (recvWindow - capacity) leaves them out,
    // and the capacity it sets (recvWindow) is what the sender may send beyond them.
    const queued = this.sourceReadableLength();
    this.recvWindowCapacity += queued;
    try {
      original.call(this);
    } finally {
      this.recvWindowCapacity -= queued;
    }
  };
  installed = true;
}
