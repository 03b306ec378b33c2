/** See ports.mjs. */
export function reservedPort(): Promise<number>;
