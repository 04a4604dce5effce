/**
 * The retry policy: which failures are retried, how long to wait, and when to give up.
 * fal publishes no numeric rate limits for the Platform APIs and declares 429 `rate_limited`;
 * gateways in front of it answer 502/503/504, sometimes with HTML. All of these are transient.
 */
export interface RetryOptions {
  /**
   * Attempts after the first one.
   * @default 10
   */
  maxRetries: number;
  /**
   * Total time one request may spend waiting between attempts, in ms (config `max_retry_seconds`).
   * @default 600_000
   */
  maxElapsedMs: number;
  /**
   * First backoff step; step n waits a random time in [0, min(maxDelayMs, baseDelayMs * 2^n)] ("full jitter").
   * @default 1_000
   */
  baseDelayMs: number;
  /**
   * Upper bound of one computed backoff step (a server-announced wait may be longer, within maxElapsedMs).
   * @default 60_000
   */
  maxDelayMs: number;
  /**
   * HTTP statuses that are retried: 408 request timeout, 429 rate limited, and 5xx except 501 Not Implemented.
   * @default [408, 429, 500, 502, 503, 504]
   */
  retryStatuses: readonly number[];
}

export const DEFAULT_RETRY: RetryOptions = {
  maxRetries: 10,
  maxElapsedMs: 600_000,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  retryStatuses: [408, 429, 500, 502, 503, 504],
};

export function isRetryableStatus(status: number, options: RetryOptions): boolean {
  return options.retryStatuses.includes(status);
}

/** Full-jitter exponential backoff (attempt 0 is the first retry). */
export function backoffDelayMs(attempt: number, options: RetryOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  return Math.round(random() * ceiling);
}

/**
 * The wait the server announced, in ms from `nowMs`, or undefined.
 * `Retry-After` is delta-seconds or an HTTP date (RFC 9110 §10.2.3); fal's serverless control plane sends
 * `x-ratelimit-reset` as seconds until the window resets (fal docs, serverless rate limits). The larger wins.
 */
export function announcedWaitMs(
  headers: Record<string, string | string[] | undefined>,
  nowMs: number,
): number | undefined {
  const waits: number[] = [];
  const retryAfter = firstHeader(headers['retry-after']);
  if (retryAfter !== undefined) {
    const trimmed = retryAfter.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) waits.push(Number(trimmed) * 1000);
    else {
      const at = Date.parse(trimmed);
      if (!Number.isNaN(at)) waits.push(Math.max(0, at - nowMs));
    }
  }
  const reset = firstHeader(headers['x-ratelimit-reset']);
  if (reset !== undefined && /^\d+(\.\d+)?$/.test(reset.trim())) {
    const value = Number(reset.trim());
    // Some APIs send an epoch timestamp in this header rather than seconds; treat large values as epoch seconds.
    waits.push(value > 1_000_000_000 ? Math.max(0, value * 1000 - nowMs) : value * 1000);
  }
  return waits.length > 0 ? Math.ceil(Math.max(...waits)) : undefined;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Sleeps at least `ms` of wall-clock time, waking early (rejecting) only when the signal aborts. A timer may fire a
 * millisecond before Date.now() reaches the deadline; a server-announced wait must never be cut short, so it
 * re-arms for the rest.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const until = Date.now() + ms;
    let timer: ReturnType<typeof setTimeout>;
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const wake = (): void => {
      const rest = until - Date.now();
      if (rest > 0) {
        timer = setTimeout(wake, rest);
        return;
      }
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
