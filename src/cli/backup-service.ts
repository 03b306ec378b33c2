import type { BackupService } from '../backup/types.js';
import { RemoteBackupService } from '../rpc/grpc/backup-client.js';
import type { ClientTls } from '../rpc/grpc/tls.js';

export interface ServiceChoice {
  grpcAddress: string;
  /** Dial the node over TLS (undefined: plain text). */
  grpcTls?: ClientTls | undefined;
  /** Work offline on this data dir (only when no node runs on it). */
  dataDir?: string | undefined;
  /** With dataDir: the genesis file, and whether a new data dir may be created from it. */
  genesisPath?: string | undefined;
}

/**
 * The backup service a command runs against: the data dir opened in this process with --data-dir,
 * otherwise the running node over gRPC. The chain stack (EVM, trie, LevelDB) loads only for offline
 * work: an online command is a gRPC client and starts in a fraction of the time.
 */
export async function withBackupService<T>(choice: ServiceChoice, run: (service: BackupService) => Promise<T>): Promise<T> {
  if (!choice.dataDir) return run(new RemoteBackupService(choice.grpcAddress, { tls: choice.grpcTls }));
  const { openOfflineBackupService } = await import('../node/offline.js');
  const { service, close } = await openOfflineBackupService(choice.dataDir, {
    ...(choice.genesisPath ? { genesisPath: choice.genesisPath } : {}),
    create: choice.genesisPath !== undefined,
  });
  try {
    return await run(service);
  } finally {
    await close();
  }
}
