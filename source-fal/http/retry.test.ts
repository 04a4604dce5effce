import { afterEach, describe, expect, it, vi } from 'vitest';

import { announcedWaitMs, backoffDelayMs, DEFAULT_RETRY, isRetryableStatus, sleep } from './retry.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30, 0);

describe('announcedWaitMs', () => {
  it.each([
    [{ 'retry-after': '5' }, 5_000],
    [{ 'retry-after': ' 0 ' }, 0],
    [{ 'retry-after': '1.5' }, 1_500],
    [{ 'retry-after': ['4', '8'] }, 4_000],
    [{ 'x-ratelimit-reset': '7' }, 7_000],
  ])('given %j when read then %i ms', (headers, ms) => {
    expect(announcedWaitMs(headers, NOW)).toBe(ms);
  });

  it('given Retry-After as an HTTP date when read then the time until that date', () => {
    const at = new Date(NOW + 12_000).toUTCString();
    expect(at).toBe('Mon, 27 Jul 2026 15:30:12 GMT');
    expect(announcedWaitMs({ 'retry-after': at }, NOW)).toBe(12_000);
  });

  it('given Retry-After as an HTTP date in the past when read then zero, never negative', () => {
    expect(announcedWaitMs({ 'retry-after': 'Mon, 27 Jul 2026 15:29:00 GMT' }, NOW)).toBe(0);
  });

  it('given x-ratelimit-reset as epoch seconds when read then the time until that instant', () => {
    expect(announcedWaitMs({ 'x-ratelimit-reset': String(NOW / 1000 + 20) }, NOW)).toBe(20_000);
  });

  it.each([
    [{ 'retry-after': '2', 'x-ratelimit-reset': '9' }, 9_000],
    [{ 'retry-after': '30', 'x-ratelimit-reset': '9' }, 30_000],
  ])('given both headers %j when read then the longer wait wins', (headers, ms) => {
    // Waiting the shorter one just earns another 429.
    expect(announcedWaitMs(headers, NOW)).toBe(ms);
  });

  it.each([{}, { 'retry-after': 'soon' }, { 'x-ratelimit-reset': 'tomorrow' }, { 'retry-after': undefined }])(
    'given %j when read then no announced wait',
    (headers) => {
      expect(announcedWaitMs(headers, NOW)).toBeUndefined();
    },
  );
});

describe('backoffDelayMs', () => {
  it.each([
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [5, 32_000],
    [6, 60_000],
    [30, 60_000],
  ])('given random 1 and retry %i when computed then the ceiling %i ms', (attempt, ms) => {
    expect(backoffDelayMs(attempt, DEFAULT_RETRY, () => 1)).toBe(ms);
  });

  it('given random 0 when computed then no wait', () => {
    expect(backoffDelayMs(4, DEFAULT_RETRY, () => 0)).toBe(0);
  });

  it('given random 0.25 when computed then a quarter of the ceiling', () => {
    expect(backoffDelayMs(3, DEFAULT_RETRY, () => 0.25)).toBe(2_000);
  });

  it('given custom options when computed then base and cap are the options', () => {
    expect(backoffDelayMs(3, { ...DEFAULT_RETRY, baseDelayMs: 10, maxDelayMs: 50 }, () => 1)).toBe(50);
    expect(backoffDelayMs(1, { ...DEFAULT_RETRY, baseDelayMs: 10, maxDelayMs: 50 }, () => 1)).toBe(20);
  });

  it('given many random draws when computed then each delay lies in [0, min(cap, base·2^n)]', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(60_000, 1_000 * 2 ** attempt);
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelayMs(attempt, DEFAULT_RETRY, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [501, false],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
  ])('given HTTP %i when classified then retryable is %s', (status, retryable) => {
    expect(isRetryableStatus(status, DEFAULT_RETRY)).toBe(retryable);
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('given a timer that fires before the wall clock reaches the deadline when slept then it sleeps the rest, never resolving early', async () => {
    // Timers run on a monotonic clock and may fire a millisecond before Date.now() says the time is up; a request
    // sent then would arrive before the instant fal announced in Retry-After.
    const real = Date.now.bind(Date);
    const t0 = real();
    const readings = [t0, t0 + 19, t0 + 20];
    const now = vi.spyOn(Date, 'now').mockImplementation(() => readings.shift() ?? real());

    await sleep(20);

    expect(readings).toEqual([]);
    expect(now).toHaveBeenCalledTimes(3);
  });

  it('given an abort while sleeping when slept then it rejects with the abort reason at once', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(60_000, controller.signal);
    controller.abort('SIGTERM');
    await expect(pending).rejects.toBe('SIGTERM');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
