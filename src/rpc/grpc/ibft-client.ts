import type { IbftService, IbftStatusView, ValidatorSnapshotView, VoteKind } from '../../consensus/ibft/service.js';
import type { IbftSnapshotResponse__Output } from './generated/basalt/operator/v1/IbftSnapshotResponse.js';
import type { IbftStatusResponse__Output } from './generated/basalt/operator/v1/IbftStatusResponse.js';
import type { IbftCandidatesResponse__Output } from './generated/basalt/operator/v1/IbftCandidatesResponse.js';
import { unaryCall } from './proto.js';
import type { OperatorClient } from './generated/basalt/operator/v1/Operator.js';
import type { ClientTls } from './tls.js';

const asVote = (v: string): VoteKind => (v === 'auth' ? 'auth' : 'drop');

/** A running node's IBFT validator set, over its gRPC operator API (`basalt ibft`). */
export class RemoteIbftService implements IbftService {
  constructor(
    private readonly address: string,
    private readonly opts: { tls?: ClientTls | undefined; timeoutMs?: number } = {},
  ) {}

  async propose(candidate: string, vote: VoteKind): Promise<void> {
    await this.call((c, deadline, cb) => c.IbftPropose({ address: candidate, vote }, { deadline }, cb));
  }

  async discard(candidate: string): Promise<boolean> {
    const r = await this.call<{ discarded: boolean }>((c, deadline, cb) => c.IbftDiscard({ address: candidate }, { deadline }, cb));
    return r.discarded;
  }

  async candidates(): Promise<{ candidate: string; vote: VoteKind }[]> {
    const r = await this.call<IbftCandidatesResponse__Output>((c, deadline, cb) => c.IbftCandidates({}, { deadline }, cb));
    return r.candidates.map((x) => ({ candidate: x.address, vote: asVote(x.vote) }));
  }

  async snapshot(number?: bigint): Promise<ValidatorSnapshotView> {
    const r = await this.call<IbftSnapshotResponse__Output>((c, deadline, cb) =>
      c.IbftSnapshot(number === undefined ? {} : { number: number.toString() }, { deadline }, cb),
    );
    return {
      number: BigInt(r.number),
      hash: r.hash,
      validators: r.validators,
      votes: r.votes.map((v) => ({ voter: v.voter, candidate: v.candidate, vote: asVote(v.vote) })),
      epochSize: BigInt(r.epochSize),
    };
  }

  async status(): Promise<IbftStatusView> {
    const r = await this.call<IbftStatusResponse__Output>((c, deadline, cb) => c.IbftStatus({}, { deadline }, cb));
    return {
      address: r.address,
      inSet: r.inSet,
      head: BigInt(r.head),
      validators: r.validators,
      sealing: r.sealing,
      ...(r.lastProposed !== undefined ? { lastProposed: BigInt(r.lastProposed) } : {}),
      ...(r.lastSigned !== undefined ? { lastSigned: BigInt(r.lastSigned) } : {}),
      ...(r.votesUnknown ? { votesUnknown: r.votesUnknown } : {}),
    };
  }

  private call<T>(run: (client: OperatorClient, deadline: number, cb: (err: unknown, r?: T) => void) => void): Promise<T> {
    return unaryCall(this.address, this.opts, run);
  }
}
