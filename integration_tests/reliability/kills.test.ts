/**
 * Kill safety of `read`. SIGKILL at seeded random moments (after k protocol messages, or t ms after fal saw the run's
 * first request: mid-page, between a window's records and its STATE, while a STATE line is half written), each run resumed
 * from the last STATE the killed run emitted, chained until a run completes: the union of every run's records,
 * upserted by primary key, must equal one uninterrupted run exactly, and the emulator's truth per day to the nano-USD.
 * SIGTERM and SIGINT must stop cleanly: INCOMPLETE, one TRACE ERROR, every line whole, exit 143/130, and a rerun from
 * the emitted state completes the data.
 *
 * `sync` has its own kill chain in integration_tests/helpers/sync-scenarios.ts (DuckDB and PostgreSQL): after each
 * SIGKILL the warehouse holds only windows whose state committed with them, the stored state never moves back, and
 * the final table equals the emulator with no duplicate key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Message } from '../helpers/cli.js';
import { statuses } from '../helpers/cli.js';
import {
  errorTraces,
  EXIT_SLACK_MS,
  keyOf,
  LONG_TEST_MS,
  nanoByDay,
  resumeState,
  type Scenario,
  scenario,
  STACK_FRAME,
  STREAM,
  STREAM_PATH,
  streamRequests,
  type TimedResult,
  upsert,
  usageRecords,
} from './harness.js';

/** Small, deterministic PRNG (mulberry32), so every kill point is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Hourly buckets from 5 days back: 6 windows (one UTC day each), 9 pages, ~550 records. Every page is held back
// 60 ms, so a run spends ~0.6 s on HTTP and a kill timed from its first request can land anywhere in it.
const OPTIONS = { historyDays: 8, startDate: '2026-11-20', config: { usage_granularity: 'hour' } } as const;
const PAGE_LATENCY_MS = 60;
const SCENARIOS = 5;
const KILLS_PER_SCENARIO = 5;

async function slowPages(concurrency = 1): Promise<Scenario> {
  const s = await scenario({ ...OPTIONS, config: { ...OPTIONS.config, max_concurrent_requests: concurrency } });
  s.emu.faults.add({ path: STREAM_PATH, times: Infinity, kind: 'latency', ms: PAGE_LATENCY_MS });
  return s;
}

/**
 * A kill point: either after the k-th protocol message the parent has read (lands just after an output flush:
 * a window's records and its STATE), or t ms after fal saw the run's first request (lands anywhere in the HTTP
 * phase: mid-page, between a page's records and the next, before a STATE is written, while one is written).
 */
type KillPoint = { kind: 'messages'; k: number } | { kind: 'ms'; t: number };

function killAt(point: KillPoint, s: Scenario): Parameters<Scenario['read']>[0] {
  if (point.kind === 'messages')
    return { killWhen: { signal: 'SIGKILL', when: (messages: readonly Message[]) => messages.length >= point.k } };
  const before = s.emu.requests.length;
  return {
    onSpawn: (child) => {
      const poll = setInterval(() => {
        if (child.exitCode !== null || child.signalCode !== null) clearInterval(poll);
        else if (s.emu.requests.length > before) {
          clearInterval(poll);
          setTimeout(() => child.kill('SIGKILL'), point.t);
        }
      }, 5);
    },
  };
}

// Serial, and with windows read four at a time (records still handed on window by window, in order).
describe.each([1, 4])(
  'given a read with max_concurrent_requests %i that is SIGKILLed at seeded random points and resumed from its last STATE each time',
  (concurrency) => {
    let reference: TimedResult;
    let referenceScenario: Scenario;

    beforeAll(async () => {
      referenceScenario = await slowPages(concurrency);
      reference = await referenceScenario.read();
      expect(reference.code, reference.stderr).toBe(0);
      expect(nanoByDay(usageRecords(reference))).toEqual(referenceScenario.truth());
    });
    afterAll(async () => {
      await referenceScenario.close();
    });

    const killPoints: string[] = [];

    describe.concurrent('when each seeded chain of kills runs to completion', () => {
      // lookback_days 0 makes a resumed run start exactly at the saved cursor, so a checkpoint written one window too
      // early loses rows (the default 3-day lookback would re-read them and hide it); the default is covered too.
      it.for(Array.from({ length: SCENARIOS }, (_, i) => [1000 + i, i % 2 === 0 ? 0 : 3] as const))(
        'then with seed %i and lookback_days %i the union of all runs, upserted by primary key, equals the uninterrupted run and the truth, with zero missing rows',
        { timeout: LONG_TEST_MS },
        async ([seed, lookbackDays], { expect }) => {
          const random = prng(seed);
          // Same seed and clock as the reference emulator, so the same data; its own request log and faults.
          const s = await slowPages(concurrency);
          try {
            const union: Record<string, unknown>[] = [];
            let state: unknown;
            let kills = 0;
            let killedLast = false;
            for (let attempt = 0; kills < KILLS_PER_SCENARIO && attempt < 3 * KILLS_PER_SCENARIO; attempt++) {
              const point: KillPoint =
                random() < 0.5
                  ? { kind: 'messages', k: 1 + Math.floor(random() * reference.messages.length) }
                  : { kind: 'ms', t: Math.floor(random() * 12 * PAGE_LATENCY_MS) };
              const run = await s.read({ state, config: { lookback_days: lookbackDays }, ...killAt(point, s) });
              union.push(...usageRecords(run));
              killedLast = run.signal === 'SIGKILL';
              if (!killedLast) {
                // The run got to the end before the kill point: that chain is complete; start the next one from scratch.
                expect(run.code, run.stderr).toBe(0);
                state = undefined;
                continue;
              }
              kills++;
              const states = run.messages.filter((m) => m.type === 'STATE').length;
              killPoints.push(
                `seed ${seed}: ${point.kind === 'messages' ? `after message ${point.k}` : `${point.t} ms after the first request`}, ${run.messages.length} messages and ${states} states out`,
              );
              // Resume from the last whole STATE line the killed run emitted; none yet means the previous one still holds.
              state = resumeState(run) ?? state;
            }
            if (killedLast) {
              const last = await s.read({ state, config: { lookback_days: lookbackDays } });
              expect(last.code, last.stderr).toBe(0);
              union.push(...usageRecords(last));
            }

            const expected = upsert(usageRecords(reference));
            const got = upsert(union);
            const missing = [...expected.keys()].filter((key) => !got.has(key));
            const extra = [...got.keys()].filter((key) => !expected.has(key));
            expect(missing).toEqual([]);
            expect(extra).toEqual([]);
            for (const [key, row] of expected) expect(got.get(key), key).toEqual(row);
            expect(nanoByDay(union)).toEqual(s.truth());
          } finally {
            await s.close();
          }
        },
      );
    });

    it(
      'then a run killed right after each of its first STATEs, resumed with lookback_days 0, loses nothing (every checkpoint covers only what was written)',
      { timeout: LONG_TEST_MS },
      async () => {
        const s = await slowPages(concurrency);
        try {
          const union: Record<string, unknown>[] = [];
          let state: unknown;
          for (const nth of [1, 2]) {
            const run = await s.read({
              state,
              config: { lookback_days: 0 },
              killWhen: {
                signal: 'SIGKILL',
                when: (messages) => messages.filter((m) => m.type === 'STATE').length >= nth,
              },
            });
            expect(run.signal).toBe('SIGKILL');
            union.push(...usageRecords(run));
            state = resumeState(run);
          }
          const last = await s.read({ state, config: { lookback_days: 0 } });
          expect(last.code, last.stderr).toBe(0);
          union.push(...usageRecords(last));
          const got = upsert(union);
          expect([...upsert(usageRecords(reference)).keys()].filter((key) => !got.has(key))).toEqual([]);
          expect(nanoByDay(union)).toEqual(s.truth());
        } finally {
          await s.close();
        }
      },
    );

    it('then at least 20 of the kill points really killed a run mid-way, at many different depths', () => {
      // The chains ran before this test (a file's tests run in order; the concurrent block finishes first).
      expect(killPoints.length, killPoints.join('\n')).toBeGreaterThanOrEqual(20);
      expect(
        new Set(killPoints.map((p) => p.replace(/^.*?, /, ''))).size,
        killPoints.join('\n'),
      ).toBeGreaterThanOrEqual(8);
    });

    it('then every record of the uninterrupted run has a primary key, so "zero missing rows" is a statement about every row', () => {
      for (const row of usageRecords(reference)) expect(keyOf(row)).not.toMatch(/null/);
      expect(usageRecords(reference).length).toBeGreaterThan(300);
    });
  },
);

describe.concurrent('given a read stopped by SIGTERM or SIGINT while a window is being read', () => {
  it.for([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    'when %s arrives after the first STATE then the stream is INCOMPLETE with one TRACE ERROR, every line is whole, exit %i, and a rerun from the emitted state completes the data',
    { timeout: LONG_TEST_MS },
    async ([signal, exitCode], { expect }) => {
      const s = await scenario(OPTIONS);
      try {
        // Slow pages, so the signal lands while the second window's pages are in flight.
        s.emu.faults.add({ path: STREAM_PATH, times: Infinity, kind: 'latency', ms: 400 });
        let signalledAt = 0;
        const stopped = await s.read({
          killWhen: {
            signal,
            when: (messages) => {
              const hit = messages.some((m) => m.type === 'STATE');
              if (hit && signalledAt === 0) signalledAt = Date.now();
              return hit;
            },
          },
        });

        // runCli already rejected any partial line: only SIGKILL may cut one.
        expect(stopped.signal).toBeNull();
        expect(stopped.code).toBe(exitCode);
        expect(stopped.exitedAt - signalledAt).toBeLessThan(EXIT_SLACK_MS);
        expect(statuses(stopped, STREAM)).toEqual(['STARTED', 'RUNNING', 'INCOMPLETE']);
        const errors = errorTraces(stopped);
        expect(errors).toHaveLength(1);
        expect(errors[0]?.failure_type).toBe('transient_error');
        expect(errors[0]?.stream_descriptor).toEqual({ name: STREAM });
        expect(errors[0]?.message).toMatch(/interrupted.*rerun to resume from the saved state/);
        expect(errors[0]?.message).not.toMatch(STACK_FRAME);
        expect(stopped.stderr).toContain(`${signal} received`);
        // What was due went out: the statuses and the error come after every record and state of the run.
        const types = stopped.messages.map((m) => m.type);
        expect(types.slice(-2)).toEqual(['TRACE', 'TRACE']);
        // The interrupted window was abandoned, not checkpointed.
        const cursors = stopped.messages.filter((m) => m.type === 'STATE');
        expect(cursors.length).toBeGreaterThanOrEqual(1);
        expect(cursors.length).toBeLessThan(6);

        s.emu.faults.clear();
        const resumed = await s.read({ state: resumeState(stopped) });
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(nanoByDay([...usageRecords(stopped), ...usageRecords(resumed)])).toEqual(s.truth());
      } finally {
        await s.close();
      }
    },
  );

  it(
    'when SIGTERM arrives while the connector waits out a 60 s rate limit then it stops at once instead of sleeping on, exit 143',
    { timeout: LONG_TEST_MS },
    async ({ expect }) => {
      const s = await scenario(OPTIONS);
      try {
        s.emu.faults.add({
          path: STREAM_PATH,
          after: 1,
          times: 1,
          kind: 'status',
          status: 429,
          headers: { 'retry-after': '60' },
        });
        let signalledAt = 0;
        const stopped = await s.read({
          config: { max_retry_seconds: 600 },
          killWhen: {
            signal: 'SIGTERM',
            when: (messages) => {
              const waiting = messages.some(
                (m) =>
                  m.type === 'LOG' &&
                  /Retrying GET \/models\/usage in 60\.0 s/.test(String((m.log as { message: string }).message)),
              );
              if (waiting && signalledAt === 0) signalledAt = Date.now();
              return waiting;
            },
          },
        });

        expect(stopped.code).toBe(143);
        expect(stopped.exitedAt - signalledAt).toBeLessThan(EXIT_SLACK_MS);
        expect(statuses(stopped, STREAM).at(-1)).toBe('INCOMPLETE');
        expect(errorTraces(stopped).map((e) => e.failure_type)).toEqual(['transient_error']);
        // Nothing was sent after the 429: the wait was abandoned, not cut short.
        expect(streamRequests(s.emu).at(-1)?.status).toBe(429);
      } finally {
        await s.close();
      }
    },
  );
});
