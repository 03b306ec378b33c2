import { MemoryDatastore } from 'datastore-core/memory';
import type { Key } from 'interface-datastore';

/** Where the chain's DHT keeps what it stores (kad-dht's `datastorePrefix`). */
export const DHT_DATASTORE_PREFIX = '/dht';
const REFUSED = [`${DHT_DATASTORE_PREFIX}/provider/`, `${DHT_DATASTORE_PREFIX}/record/`];

/**
 * libp2p's datastore (in memory, as libp2p's default), refusing what the DHT would store for peers.
 *
 * The chain's Kademlia DHT is there to find peers. Its content requests would store what any peer
 * sends for 48 hours: an ADD_PROVIDER record under any content ID, a PUT_VALUE record for any public
 * key (`/pk/`), without limit (one peer stored 500 of each in about a second, test/unit/p2p/dht-records.test.ts).
 * This node neither provides content nor puts values, so the DHT's provider and record keys are
 * refused: the request fails in kad-dht's handler (which answers nothing and, for ADD_PROVIDER, skips
 * the addresses it would have merged), and GET_PROVIDERS / GET_VALUE find nothing. The peer store
 * and everything else are kept as before.
 */
export class PeerRoutingDatastore extends MemoryDatastore {
  refused = 0;

  override put(key: Key, val: Uint8Array, options?: Parameters<MemoryDatastore['put']>[2]): ReturnType<MemoryDatastore['put']> {
    const k = key.toString();
    if (REFUSED.some((p) => k.startsWith(p))) {
      this.refused++;
      throw new Error('the DHT stores no provider or value records on this node');
    }
    return super.put(key, val, options);
  }
}
