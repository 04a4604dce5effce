import { describe, expect, it } from 'vitest';

import { AdaptiveLimit } from './limit.js';

describe('AdaptiveLimit', () => {
  it('given a limit of 4 when 6 requests ask then 4 run and the others wait for a release', async () => {
    const limit = new AdaptiveLimit(4);
    let running = 0;
    const started = Array.from({ length: 6 }, () => limit.acquire().then(() => running++));
    await new Promise((resolve) => setImmediate(resolve));
    expect(running).toBe(4);
    limit.release('success');
    await new Promise((resolve) => setImmediate(resolve));
    expect(running).toBe(5);
    limit.release('success');
    await Promise.all(started);
    expect(running).toBe(6);
  });

  it('given a limit of 8 when three rate limits come back then it halves each time, never below 1', () => {
    const limit = new AdaptiveLimit(8);
    for (const expected of [4, 2, 1, 1]) {
      void limit.acquire();
      limit.release('rate_limited');
      expect(limit.current).toBe(expected);
    }
  });

  it('given a lowered limit when successes follow then it grows by one after as many successes as the limit, up to the maximum', async () => {
    const limit = new AdaptiveLimit(4);
    await limit.acquire();
    limit.release('rate_limited');
    await limit.acquire();
    limit.release('rate_limited');
    expect(limit.current).toBe(1);
    const grow: number[] = [];
    for (let i = 0; i < 12; i++) {
      await limit.acquire();
      limit.release('success');
      grow.push(limit.current);
    }
    expect(grow).toEqual([2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]);
  });

  it('given an aborted run when a request waits for a slot then it stops waiting with the abort reason', async () => {
    const limit = new AdaptiveLimit(1);
    await limit.acquire();
    const controller = new AbortController();
    const waiting = limit.acquire(controller.signal);
    controller.abort(new Error('SIGTERM'));
    await expect(waiting).rejects.toThrow('SIGTERM');
    limit.release('success');
    await limit.acquire();
  });

  it('given a limit that is not a whole number of at least 1 when built then it says so', () => {
    expect(() => new AdaptiveLimit(0)).toThrow(/whole number ≥ 1/);
  });
});
