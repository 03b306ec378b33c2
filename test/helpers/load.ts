import { Wallet } from 'ethers';
import { rpc } from './cli.js';

/** The well-known dev account (Hardhat #0), premined by test genesis files. Its key is public. */
export const DEV_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
export const DEV_ADDRESS = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';

/**
 * Keep sending signed transfers from the dev account until stopped, one every `intervalMs` (default
 * 40: ~25 tx/s, a steady load the sealer keeps up with) after the last was accepted. The first refused
 * or failed send ends the load: `check()` throws it at once (call it while waiting on the node), `stop()`
 * throws it at the end.
 */
export function transactionLoad(url: string, intervalMs = 40, startNonce = 0) {
  const wallet = new Wallet(DEV_KEY);
  let stop = false;
  let sent = 0;
  let failure: unknown;
  const done = (async () => {
    let nonce = startNonce;
    while (!stop) {
      const raw = await wallet.signTransaction({
        type: 2,
        chainId: 100,
        nonce,
        to: `0x${((nonce % 50) + 1).toString(16).padStart(40, '0')}`,
        value: 1000n + BigInt(nonce),
        gasLimit: 21000,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
      });
      // A send the node never answers is a failure too (and says so), not a load that quietly stops.
      let timer: NodeJS.Timeout | undefined;
      const unanswered = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`eth_sendRawTransaction of nonce ${nonce}: no answer in 15 s`)), 15_000);
      });
      try {
        await Promise.race([rpc(url, 'eth_sendRawTransaction', [raw]), unanswered]);
      } finally {
        clearTimeout(timer);
      }
      nonce++;
      sent++;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })().catch((err: unknown) => {
    failure = err;
  });
  return {
    sent: () => sent,
    /** Throws why the load ended early, if it did (with how many it had sent). */
    check(): void {
      if (failure) throw new Error(`the transaction load stopped after ${sent} transactions: ${failure instanceof Error ? failure.message : String(failure)}`);
    },
    async stop() {
      stop = true;
      await done;
      if (failure) throw failure;
    },
  };
}
