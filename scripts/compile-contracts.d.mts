/** See compile-contracts.mjs. */
export const OUTPUT: URL;
export function generate(): string;
