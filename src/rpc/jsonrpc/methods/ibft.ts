import type { BlockHeader } from '@ethereumjs/block';
import { bigIntToHex, bytesToHex, toChecksumAddress } from '@ethereumjs/util';
import { decodeIbftExtra } from '../../../consensus/ibft/extra.js';
import { ibftSealSignatures } from '../../../consensus/ibft/verify.js';
import { recoverAddress } from '../../../util/secp256k1.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import type { IbftService } from '../../../consensus/ibft/service.js';
import { UserError, type ErrorCode } from '../../../util/errors.js';
import { blockTag, expectParams, type BlockTag } from '../params.js';
import { requireHeader, type RpcContext, type RpcMethods } from './context.js';

/** Blocks ibft_getSignerMetrics reads unless told (Besu's default), and the most it reads at once. */
export const SIGNER_METRICS_DEFAULT_BLOCKS = 100n;
export const SIGNER_METRICS_MAX_BLOCKS = 1024n;

/** The JSON-RPC error of the service's refusals whose code is not InvalidInput's. */
const RPC_CODES: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: RpcErrorCode.InvalidParams,
  RESOURCE_EXHAUSTED: RpcErrorCode.LimitExceeded,
};

/**
 * The `ibft_` namespace (issue #23), off unless `--jsonrpc-api` names it (a vote must not be open to
 * any wallet):
 * - ibft_getValidatorsByBlockNumber(block): the validator set a block's extraData names (Besu's
 *   qbft_getValidatorsByBlockNumber): the set after its vote, which decides the block after it;
 * - ibft_proposeValidatorVote(address, add: boolean), ibft_discardValidatorVote(address),
 *   ibft_getPendingVotes(): this validator's proposed votes (Besu's qbft_ methods of those names;
 *   pending votes as { address: add }), over the same service as `basalt ibft`;
 * - ibft_getSnapshot(block?): the set after a block and the votes pending then;
 * - ibft_getSignerMetrics(from?, to?): for each validator of the range, the blocks it proposed (the
 *   last one too) and the committed seals it put on them, over at most SIGNER_METRICS_MAX_BLOCKS
 *   blocks (default: the last SIGNER_METRICS_DEFAULT_BLOCKS): who is missing seals.
 */
export function ibftMethods({ chain, ibft }: RpcContext): RpcMethods {
  const service = (): IbftService => {
    if (!ibft) throw new RpcError(RpcErrorCode.InvalidInput, 'this node runs no IBFT validator');
    return ibft;
  };
  /**
   * The service's one-line refusals, as JSON-RPC errors: a bad argument is invalid params, a busy node
   * "limit exceeded" (as a refused simulation is).
   */
  const served = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof UserError) throw new RpcError(RPC_CODES[err.code] ?? RpcErrorCode.InvalidInput, err.message);
      throw err;
    }
  };
  const addressParam = (v: unknown): string => {
    if (typeof v !== 'string') throw invalidParams('the address must be a string: 0x and 40 hex digits');
    return v;
  };
  const headerAt = (tag: BlockTag): Promise<BlockHeader> => requireHeader(chain, tag);
  const validatorsOf = (header: BlockHeader) => decodeIbftExtra(header.extraData).validators;

  return {
    ibft_getValidatorsByBlockNumber: async (p) => {
      expectParams(p, 1);
      return validatorsOf(await headerAt(blockTag(p[0]))).map((v) => toChecksumAddress(bytesToHex(v)));
    },

    ibft_proposeValidatorVote: async (p) => {
      expectParams(p, 2);
      if (typeof p[1] !== 'boolean') throw invalidParams('the second parameter is true (add the address) or false (drop it)');
      const candidate = addressParam(p[0]);
      await served(() => service().propose(candidate, p[1] ? 'auth' : 'drop'));
      return true;
    },

    ibft_discardValidatorVote: async (p) => {
      expectParams(p, 1);
      const candidate = addressParam(p[0]);
      return served(() => service().discard(candidate));
    },

    ibft_getPendingVotes: async (p) => {
      expectParams(p, 0);
      const list = await served(() => service().candidates());
      return Object.fromEntries(list.map((c) => [toChecksumAddress(c.candidate), c.vote === 'auth']));
    },

    ibft_getSnapshot: async (p) => {
      expectParams(p, 0, 1);
      const num = p[0] === undefined ? undefined : (await headerAt(blockTag(p[0]))).number;
      const snap = await served(() => service().snapshot(num));
      return {
        number: bigIntToHex(snap.number),
        hash: snap.hash,
        validators: snap.validators.map((v) => toChecksumAddress(v)),
        votes: snap.votes.map((v) => ({ voter: toChecksumAddress(v.voter), candidate: toChecksumAddress(v.candidate), authorize: v.vote === 'auth' })),
        epochSize: bigIntToHex(snap.epochSize),
      };
    },

    ibft_getSignerMetrics: async (p) => {
      expectParams(p, 0, 2);
      const head = chain.head.number;
      const to = p[1] === undefined ? head : (await headerAt(blockTag(p[1]))).number;
      const from =
        p[0] === undefined ? (to >= SIGNER_METRICS_DEFAULT_BLOCKS ? to - SIGNER_METRICS_DEFAULT_BLOCKS + 1n : 0n) : (await headerAt(blockTag(p[0]))).number;
      if (from > to) throw new RpcError(RpcErrorCode.InvalidInput, `the range starts at block ${from}, after its end ${to}`);
      if (to - from + 1n > SIGNER_METRICS_MAX_BLOCKS) {
        throw new RpcError(RpcErrorCode.InvalidInput, `the range ${from}-${to} is ${to - from + 1n} blocks: at most ${SIGNER_METRICS_MAX_BLOCKS} at once`);
      }
      const metrics = new Map<string, { proposed: bigint; lastProposed?: bigint; seals: bigint }>();
      const entry = (hex: string) => {
        let m = metrics.get(hex);
        if (!m) metrics.set(hex, (m = { proposed: 0n, seals: 0n }));
        return m;
      };
      // The genesis has neither proposer nor seals: its validators are counted, with nothing.
      const canonical = async (n: bigint) => {
        const header = await chain.store.canonicalHeader(n);
        if (!header) throw new RpcError(RpcErrorCode.Internal, `block ${n} is missing from the canonical chain`);
        return header;
      };
      let parent = from === 0n ? undefined : await canonical(from - 1n);
      for (let n = from; n <= to; n++) {
        const header = await canonical(n);
        // The set that decided block n (the genesis's for itself; an emergency change's where one starts).
        const deciding = new Set((parent ? chain.engine.validatorsAfter(parent) : validatorsOf(header)).map((v) => bytesToHex(v)));
        for (const v of deciding) entry(v);
        parent = header;
        if (n === 0n) continue;
        const proposer = entry(header.coinbase.toString()); // the verifier checked coinbase = proposer
        proposer.proposed++;
        proposer.lastProposed = n;
        // Each committed seal's signer, once a block, if of the set that decided it: the seals of a
        // restored block between two whose seals were checked (restore --seals set-changes) are kept
        // unchecked, so one that does not recover or is not a validator's is passed over.
        const signed = new Set<string>();
        for (const { hash, signature } of ibftSealSignatures(header).slice(1)) {
          let signer: `0x${string}`;
          try {
            signer = bytesToHex(recoverAddress(hash, signature));
          } catch {
            continue;
          }
          if (!deciding.has(signer) || signed.has(signer)) continue;
          signed.add(signer);
          entry(signer).seals++;
        }
      }
      return [...metrics].map(([address, m]) => ({
        address: toChecksumAddress(address),
        proposedBlockCount: bigIntToHex(m.proposed),
        lastProposedBlockNumber: m.lastProposed === undefined ? null : bigIntToHex(m.lastProposed),
        committedSealCount: bigIntToHex(m.seals),
      }));
    },
  };
}
