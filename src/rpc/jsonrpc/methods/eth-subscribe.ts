import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { bool, expectParams } from '../params.js';
import type { Subscription, SubscriptionHub, SubscriptionSink } from '../subscriptions.js';
import type { RpcMethods } from './context.js';
import { parseLogQuery } from './eth-logs.js';

/**
 * eth_subscribe / eth_unsubscribe for one connection (`sink`), with at most `maxSubscriptions` of its own
 * and `maxTotalSubscriptions` in the hub (all connections).
 */
export function subscriptionMethods(
  hub: SubscriptionHub,
  sink: SubscriptionSink,
  { maxSubscriptions: max, maxTotalSubscriptions: maxTotal }: { maxSubscriptions: number; maxTotalSubscriptions: number },
): RpcMethods {
  return {
    eth_subscribe: (p) => {
      expectParams(p, 1, 2);
      const sub = parseSubscription(p[0], p[1]);
      // The rest of a batch whose connection closed meanwhile: its subscriptions were dropped with it,
      // and one made now would never be (a leak a client could repeat at will).
      if (sink.open === false) throw new RpcError(RpcErrorCode.InvalidInput, 'the connection is closed');
      if (hub.count(sink) >= max) throw new RpcError(RpcErrorCode.InvalidInput, `too many subscriptions on this connection (limit ${max}): unsubscribe some`);
      if (hub.size >= maxTotal) throw new RpcError(RpcErrorCode.LimitExceeded, `too many subscriptions on this node (limit ${maxTotal}): try again later`);
      return hub.subscribe(sink, sub);
    },
    eth_unsubscribe: (p) => {
      expectParams(p, 1);
      return hub.unsubscribe(sink, p[0]);
    },
  };
}

function parseSubscription(kind: unknown, arg: unknown): Subscription {
  switch (kind) {
    case 'newHeads':
      return { kind: 'newHeads' };
    case 'newPendingTransactions':
      return { kind: 'newPendingTransactions', full: arg === undefined || arg === null ? false : bool(arg, 'full transactions') };
    case 'logs': {
      if (arg === undefined || arg === null) return { kind: 'logs', query: { topics: [] } };
      if (typeof arg !== 'object' || Array.isArray(arg)) throw invalidParams('logs subscription: filter object {address, topics} expected');
      const o = arg as Record<string, unknown>;
      if (o.fromBlock !== undefined || o.toBlock !== undefined || o.blockHash !== undefined) {
        throw invalidParams('logs subscription: only address and topics are allowed (new blocks only)');
      }
      return { kind: 'logs', query: parseLogQuery(o) };
    }
    default:
      throw invalidParams(
        `unsupported subscription ${typeof kind === 'string' ? JSON.stringify(kind.slice(0, 64)) : typeof kind}: want "newHeads", "logs" or "newPendingTransactions"`,
      );
  }
}
