/**
 * Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS architecture blog):
 * delay_n = random(0, min(maxMs, baseMs · 2^n)).
 */
export interface RetryOptions {
  /** Attempts per endpoint, at least 1. Default 3. */
  attempts?: number;
  /** Default 50 ms. */
  baseMs?: number;
  /** Default 2 000 ms. */
  maxMs?: number;
  /** Injectable for tests: defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Injectable for tests: defaults to Math.random. */
  random?: () => number;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function backoffDelay(attempt: number, opts: RetryOptions = {}): number {
  const base = opts.baseMs ?? 50;
  const max = opts.maxMs ?? 2_000;
  const cap = Math.min(max, base * 2 ** attempt);
  return Math.floor((opts.random ?? Math.random)() * cap);
}

/**
 * Calls `fn` on each endpoint in order (nearest first), retrying a retryable failure with backoff
 * before moving to the next endpoint. A failure that is not retryable (the service answered and
 * refused) is thrown at once: failing over would only ask another replica the same question.
 */
export async function withFailover<E, T>(
  endpoints: readonly E[],
  fn: (endpoint: E) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 3);
  const sleep = opts.sleep ?? defaultSleep;
  const errors: unknown[] = [];
  for (const ep of endpoints) {
    for (let a = 0; a < attempts; a++) {
      try {
        return await fn(ep);
      } catch (err) {
        if (!isRetryable(err)) throw err;
        errors.push(err);
        if (a + 1 < attempts) await sleep(backoffDelay(a, opts));
      }
    }
  }
  throw new AggregateError(errors, "every endpoint failed");
}
