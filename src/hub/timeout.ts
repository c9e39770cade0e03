import { AdapterError } from '../domain/errors.js';

/** Rejects with a retryable AdapterError when `promise` takes longer than `ms`: a stalled adapter must not stall a cycle. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdapterError(`${what} timed out after ${ms} ms`, true)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
