/**
 * The names of a validator's sign journals in its data dir's consensus/ folder: this release's
 * (sign-journal.ts) and an earlier release's (legacy-signed.ts). In a module of their own, importing
 * nothing, so that `secrets restore` can look for them without loading the journal's code (its
 * WebAssembly, whose memory a large scrypt must not share).
 */
export const SIGN_JOURNAL_FILE = 'ibft-sign-journal';
export const LEGACY_SIGNED_FILE = 'signed.json';
