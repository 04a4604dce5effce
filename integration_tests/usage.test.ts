/**
 * Whole-connector tests of the `usage` stream against the fal emulator: money reconciles to the nano-dollar per
 * UTC day, the lookback picks up late rows, windows are aligned, and the cursor never runs backwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, states, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

/** Sum of cost_total_nano_usd per UTC day, keeping the last record per id (as a warehouse upsert would). */
function nanoByDay(rows: Record<string, unknown>[]): Map<string, bigint> {
  const latest = new Map<string, Record<string, unknown>>();
  for (const row of rows) latest.set(String(row.id), row);
  const days = new Map<string, bigint>();
  for (const row of latest.values()) {
    const day = String(row.bucket).slice(0, 10);
    days.set(day, (days.get(day) ?? 0n) + BigInt(Number(row.cost_total_nano_usd)));
  }
  return days;
}

const sorted = (m: Map<string, bigint>): [string, string][] =>
  [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.toString()]);

describe('given 120 days of usage in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const start = new Date(now - 120 * DAY);
  const startDate = start.toISOString().slice(0, 10);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (overrides: Record<string, unknown>, clock: string, state?: unknown): Promise<CliResult> =>
    runCli(
      [
        'read',
        '--config',
        writeJson(dir, 'config.json', configFor(emu.url, { start_date: startDate, ...overrides })),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['usage'])),
        ...(state ? ['--state', writeJson(dir, 'state.json', state)] : []),
      ],
      { env: cliEnv(clock) },
    );

  describe('when usage is read from start_date to now at day granularity', () => {
    let run: CliResult;
    beforeAll(async () => {
      run = await read({}, FIXED_NOW);
    });

    it('then every UTC day reconciles with the emulator to the nano-dollar', () => {
      expect(run.code, run.stderr).toBe(0);
      const truth = emu.truth.usageNanoByDay(ACCOUNT, new Date(Date.parse(`${startDate}T00:00:00Z`)), new Date(now));
      expect(truth.size).toBeGreaterThanOrEqual(120);
      expect(sorted(nanoByDay(records(run, 'usage')))).toEqual(sorted(truth));
    });

    it('then no id repeats within one read and every bucket is a UTC midnight in RFC 3339', () => {
      const rows = records(run, 'usage');
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      for (const row of rows) expect(String(row.bucket)).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
    });

    it('then the decimal cost_total agrees with the integer nano column on every row', () => {
      for (const row of records(run, 'usage'))
        expect(Math.round(Number(row.cost_total) * 1e9)).toBe(row.cost_total_nano_usd);
    });

    it('then the final state is the start of the still-open UTC day', () => {
      expect(states(run, 'usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-25T00:00:00Z' });
    });

    it('then every request asked for explicit UTC windows that start at midnight', () => {
      const usageRequests = emu.requests.filter((r) => r.path === '/v1/models/usage');
      expect(usageRequests.length).toBeGreaterThan(0);
      for (const request of usageRequests) {
        expect(request.query.timeframe).toEqual(['day']);
        expect(request.query.bound_to_timeframe).toEqual(['false']);
        expect(request.query.timezone).toEqual(['UTC']);
        expect(request.query.start?.[0]).toMatch(/T00:00:00Z$/);
      }
    });

    describe('and then the clock moves on two days and an incremental read resumes from the state', () => {
      let second: CliResult;
      const later = new Date(now + 2 * DAY).toISOString();
      beforeAll(async () => {
        emu.requests.length = 0;
        emu.setNow(later);
        second = await read({}, later, finalStateFile(run));
      });
      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then the union of both reads, upserted by id, equals the emulator as of the new clock, late rows included', () => {
        expect(second.code, second.stderr).toBe(0);
        const union = nanoByDay([...records(run, 'usage'), ...records(second, 'usage')]);
        const truth = emu.truth.usageNanoByDay(
          ACCOUNT,
          new Date(Date.parse(`${startDate}T00:00:00Z`)),
          new Date(later),
          new Date(later),
        );
        expect(sorted(union)).toEqual(sorted(truth));
        // Late rows really did arrive: some day before the first run's clock changed between the reads.
        const before = nanoByDay(records(run, 'usage'));
        const changed = [...before].filter(([day, nano]) => Date.parse(day) < now - DAY && truth.get(day) !== nano);
        expect(changed.length).toBeGreaterThan(0);
      });

      it('then it re-read only the lookback (3 days before the saved cursor, from midnight) and not all history', () => {
        const starts = emu.requests
          .filter((r) => r.path === '/v1/models/usage')
          .map((r) => Date.parse(r.query.start?.[0] ?? ''));
        expect(Math.min(...starts)).toBe(Date.parse('2026-11-22T00:00:00Z'));
        expect(records(second, 'usage').length).toBeLessThan(records(run, 'usage').length / 10);
      });

      it('then the cursor moved forward to the new open day', () => {
        expect(states(second, 'usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-27T00:00:00Z' });
      });
    });
  });

  describe('when usage is read at hour granularity', () => {
    it('then buckets are whole UTC hours and days still reconcile to the nano-dollar', async () => {
      const from = new Date(now - 5 * DAY).toISOString().slice(0, 10);
      const run = await read({ start_date: from, usage_granularity: 'hour' }, FIXED_NOW);
      expect(run.code, run.stderr).toBe(0);
      const rows = records(run, 'usage');
      for (const row of rows) {
        expect(String(row.bucket)).toMatch(/T\d{2}:00:00Z$/);
        expect(row.timeframe).toBe('hour');
      }
      expect(sorted(nanoByDay(rows))).toEqual(
        sorted(emu.truth.usageNanoByDay(ACCOUNT, new Date(Date.parse(`${from}T00:00:00Z`)), new Date(now))),
      );
      expect(states(run, 'usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-25T12:00:00Z' });
    });
  });

  describe('when the saved cursor is ahead of a lookback window', () => {
    it('then the state never moves backwards', async () => {
      const state = [
        {
          type: 'STREAM',
          stream: { stream_descriptor: { name: 'usage' }, stream_state: { bucket: '2026-11-25T00:00:00Z' } },
        },
      ];
      const run = await read({ lookback_days: 10 }, FIXED_NOW, state);
      expect(run.code).toBe(0);
      const cursors = states(run, 'usage').map((s) => Date.parse(String(s.stream.stream_state.bucket)));
      expect(cursors.length).toBeGreaterThan(1);
      for (const cursor of cursors) expect(cursor).toBeGreaterThanOrEqual(Date.parse('2026-11-25T00:00:00Z'));
    });
  });
});
