/** A transaction the pool refuses; the message follows geth's wording so that tools recognise it. */
export class TxPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxPoolError';
  }
}
