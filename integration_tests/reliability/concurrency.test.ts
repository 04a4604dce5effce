/**
 * Windows read concurrently (`max_concurrent_requests` > 1) must give exactly what a serial read gives: the same
 * records, checkpoints only in window order and only for complete windows, a failed window that stops the stream
 * with nothing after it emitted, and rate limits that lower the pressure instead of multiplying retries.
 * The SIGKILL chain of kills.test.ts runs with 4 concurrent windows too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { states, statuses } from '../helpers/cli.js';
import {
  errorTraces,
  lastCursor,
  LONG_TEST_MS,
  nanoByDay,
  resumeState,
  type Scenario,
  scenario,
  STREAM,
  STREAM_PATH,
  streamRequests,
  type TimedResult,
  upsert,
  usageRecords,
} from './harness.js';

// Hourly buckets from 2026-11-20: one window per UTC day, 6 windows, 9 pages. Each answer takes 80 ms, like a
// remote API, so windows read ahead really overlap.
const OPTIONS = { historyDays: 8, startDate: '2026-11-20', config: { usage_granularity: 'hour' } } as const;
const LATENCY_MS = 80;

async function slowScenario(): Promise<Scenario> {
  return scenario({ ...OPTIONS, latency: { fixedMs: LATENCY_MS } });
}

/** The most requests the emulator was answering at the same moment. */
function maxInFlight(requests: Scenario['emu']['requests']): number {
  const edges = requests.flatMap((r) => [
    [r.receivedAt, 1],
    [r.answeredAt ?? Number.POSITIVE_INFINITY, -1],
  ]);
  edges.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0));
  let current = 0;
  let max = 0;
  for (const [, delta] of edges) {
    current += delta ?? 0;
    max = Math.max(max, current);
  }
  return max;
}

const cursors = (r: TimedResult): string[] => states(r, STREAM).map((s) => String(s.stream.stream_state.bucket));

describe('given fal answers each page after 80 ms', () => {
  let s: Scenario;
  let serial: TimedResult;
  let serialRequests: number;

  beforeAll(async () => {
    s = await slowScenario();
    serial = await s.read({ config: { max_concurrent_requests: 1 } });
    expect(serial.code, serial.stderr).toBe(0);
    serialRequests = streamRequests(s.emu).length;
    expect(maxInFlight(streamRequests(s.emu))).toBe(1);
  });
  afterAll(async () => {
    await s.close();
  });

  it(
    'when windows are read four at a time then the records, the states and the daily totals are those of the serial read, and fal saw up to four requests at once',
    { timeout: LONG_TEST_MS },
    async () => {
      s.emu.requests.length = 0;
      const r = await s.read({ config: { max_concurrent_requests: 4 } });
      expect(r.code, r.stderr).toBe(0);
      expect([...upsert(usageRecords(r))]).toEqual([...upsert(usageRecords(serial))]);
      // Records arrive window by window in the same order, and each STATE follows its own window's records.
      expect(usageRecords(r).map((row) => row.id)).toEqual(usageRecords(serial).map((row) => row.id));
      expect(cursors(r)).toEqual(cursors(serial));
      expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
      expect(streamRequests(s.emu)).toHaveLength(serialRequests);
      const inFlight = maxInFlight(streamRequests(s.emu));
      expect(inFlight).toBeGreaterThan(1);
      expect(inFlight).toBeLessThanOrEqual(4);
    },
  );

  it(
    'when every request of the third window fails then the two windows before it are checkpointed, nothing read ahead is emitted, and a rerun from the state completes the data',
    { timeout: LONG_TEST_MS },
    async () => {
      s.emu.requests.length = 0;
      const third = cursors(serial)[1] ?? '';
      expect(third).toMatch(/^2026-11-22T00:00:00/);
      s.emu.faults.add({ path: STREAM_PATH, query: { start: third }, times: Infinity, kind: 'status', status: 500 });
      try {
        const failed = await s.read({ config: { max_concurrent_requests: 4, max_retry_seconds: 0 } });
        expect(failed.code).toBe(1);
        expect(statuses(failed, STREAM).at(-1)).toBe('INCOMPLETE');
        expect(errorTraces(failed)).toHaveLength(1);
        expect(lastCursor(failed)).toBe(third);
        // Windows after the failed one were read ahead (fal saw them) but none of their records went out.
        expect(streamRequests(s.emu).some((req) => (req.query.start?.[0] ?? '') > third)).toBe(true);
        expect(usageRecords(failed).every((row) => String(row.bucket) < third)).toBe(true);

        s.emu.faults.clear();
        const rerun = await s.read({
          config: { max_concurrent_requests: 4, lookback_days: 0 },
          state: resumeState(failed),
        });
        expect(rerun.code, rerun.stderr).toBe(0);
        expect(nanoByDay([...usageRecords(failed), ...usageRecords(rerun)])).toEqual(s.truth());
      } finally {
        s.emu.faults.clear();
      }
    },
  );

  it(
    'when the first six requests are rate limited (429) then each costs exactly one retry, not more, and the records equal the truth',
    { timeout: LONG_TEST_MS },
    async () => {
      s.emu.requests.length = 0;
      s.emu.faults.add({ path: STREAM_PATH, times: 6, kind: 'status', status: 429 });
      try {
        const r = await s.read({ config: { max_concurrent_requests: 4 } });
        expect(r.code, r.stderr).toBe(0);
        expect(streamRequests(s.emu).filter((req) => req.status === 429)).toHaveLength(6);
        expect(streamRequests(s.emu)).toHaveLength(serialRequests + 6);
        expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
        expect(cursors(r)).toEqual(cursors(serial));
      } finally {
        s.emu.faults.clear();
      }
    },
  );
});
