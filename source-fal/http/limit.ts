/**
 * How many requests the client has in flight at once. It starts at the configured `max_concurrent_requests` and
 * halves on every rate limit (429), so a burst of 429s lowers the pressure on fal instead of multiplying retries;
 * it then grows back by one after as many successes in a row as the current limit (additive increase,
 * multiplicative decrease, as TCP does). fal publishes no numeric limits for its Platform APIs, so the client
 * learns the rate from fal's answers rather than assuming one.
 */
export class AdaptiveLimit {
  private limit: number;
  private active = 0;
  private successes = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`max concurrent requests must be a whole number ≥ 1, got ${max}`);
    this.limit = max;
  }

  /** The number of requests allowed in flight now. */
  get current(): number {
    return this.limit;
  }

  /** Waits for a free slot; rejects with the signal's reason when it aborts while waiting. */
  async acquire(signal?: AbortSignal): Promise<void> {
    while (this.active >= this.limit) {
      if (signal?.aborted) throw signal.reason;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.waiting.indexOf(wake);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal?.reason);
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiting.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.active++;
  }

  release(outcome: 'success' | 'rate_limited' | 'other'): void {
    this.active--;
    if (outcome === 'rate_limited') {
      this.limit = Math.max(1, Math.floor(this.limit / 2));
      this.successes = 0;
    } else if (outcome === 'success' && this.limit < this.max && ++this.successes >= this.limit) {
      this.limit++;
      this.successes = 0;
    }
    // Wake everyone who may fit; each re-checks the limit.
    for (let free = this.limit - this.active; free > 0 && this.waiting.length > 0; free--) this.waiting.shift()?.();
  }
}
