import type { IbftService, VoteKind } from '../../consensus/ibft/service.js';
import { UserError } from '../../util/errors.js';
import type { sendUnaryData } from '@grpc/grpc-js';
import type { OperatorHandlers } from './generated/basalt/operator/v1/Operator.js';
import { toGrpcStatus } from './errors.js';

type IbftRpc = 'IbftPropose' | 'IbftDiscard' | 'IbftCandidates' | 'IbftSnapshot' | 'IbftStatus';

/** The Ibft* RPCs: thin adapters over the node's IbftService. */
export function ibftHandlers(ibft: IbftService | undefined): Pick<OperatorHandlers, IbftRpc> {
  const service = async (): Promise<IbftService> => {
    if (!ibft) throw new UserError('this node runs no IBFT validator', { code: 'FAILED_PRECONDITION' });
    return ibft;
  };
  const answer = <T>(cb: sendUnaryData<T>, run: (s: IbftService) => Promise<T>) => {
    service()
      .then(run)
      .then(
        (r) => cb(null, r),
        (err) => cb(toGrpcStatus(err)),
      );
  };
  return {
    IbftPropose: (call, cb) =>
      answer(cb, async (s) => {
        await s.propose(call.request.address ?? '', parseVote(call.request.vote ?? ''));
        return {};
      }),
    IbftDiscard: (call, cb) => answer(cb, async (s) => ({ discarded: await s.discard(call.request.address ?? '') })),
    IbftCandidates: (_call, cb) => answer(cb, async (s) => ({ candidates: (await s.candidates()).map((c) => ({ address: c.candidate, vote: c.vote })) })),
    IbftSnapshot: (call, cb) =>
      answer(cb, async (s) => {
        const n = call.request.number;
        const snap = await s.snapshot(n === undefined ? undefined : BigInt(n));
        return { ...snap, number: snap.number.toString(), epochSize: snap.epochSize.toString() };
      }),
    IbftStatus: (_call, cb) =>
      answer(cb, async (s) => {
        const st = await s.status();
        return {
          address: st.address,
          inSet: st.inSet,
          head: st.head.toString(),
          validators: st.validators,
          sealing: st.sealing,
          ...(st.lastProposed !== undefined ? { lastProposed: st.lastProposed.toString() } : {}),
          ...(st.lastSigned !== undefined ? { lastSigned: st.lastSigned.toString() } : {}),
          votesUnknown: st.votesUnknown ?? '',
        };
      }),
  };
}

/** "auth" or "drop" (Polygon Edge's words), or one line saying what is accepted. */
export function parseVote(v: string): VoteKind {
  if (v === 'auth' || v === 'drop') return v;
  const shown = v.length > 20 ? `${v.slice(0, 20)}…` : v;
  throw new UserError(`vote "${shown}" is neither auth (add the address to the set) nor drop (remove it)`, { code: 'INVALID_ARGUMENT' });
}
