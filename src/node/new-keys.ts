import { markNothingSigned } from '../consensus/ibft/core/sign-journal.js';
import { initSecrets, type CreatedSecrets } from '../keys/key-pair.js';
import { dataDirLayout } from '../storage/data-dir.js';

/**
 * New keys for a data dir that has none (initSecrets), and the record that its new validator key has
 * signed nothing yet (markNothingSigned), written once the keys are: a sign journal that exists is
 * then the data dir's own from the key's first day, and one that is absent marks a data dir restored or
 * copied without it, whose validator waits before it signs (the IBFT core's start guard). A failure
 * before the keys are written writes no journal either (initSecrets refusing existing keys among them:
 * a restored data dir must not be marked).
 */
export function initNodeSecrets(dataDir: string, report?: (note: string) => void): CreatedSecrets {
  const created = initSecrets(dataDir, report);
  markNothingSigned(dataDirLayout(dataDir).consensus);
  return created;
}
