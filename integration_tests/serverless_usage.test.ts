/**
 * Whole-connector tests of the `serverless_usage` stream against the fal emulator: machine-second costs reconcile to
 * the nano-dollar per UTC day, rows without an app or environment keep distinct never-null ids, requests are explicit
 * UTC windows, and the lookback picks up late rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, states, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';
import { nanoByDay, sortedDays, total, upsert } from './helpers/totals.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

describe('given 60 days of serverless usage in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 60 * DAY).toISOString().slice(0, 10);
  const start = new Date(`${startDate}T00:00:00Z`);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 70 });
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
        writeJson(
          dir,
          `config-${Math.random().toString(36).slice(2)}.json`,
          configFor(emu.url, { start_date: startDate, ...overrides }),
        ),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['serverless_usage'])),
        ...(state ? ['--state', writeJson(dir, `state-${Math.random().toString(36).slice(2)}.json`, state)] : []),
      ],
      { env: cliEnv(clock) },
    );

  describe('when serverless_usage is read from start_date to now at day granularity', () => {
    let run: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      run = await read({}, FIXED_NOW);
    });

    it('then every UTC day reconciles with the emulator to the nano-dollar', () => {
      expect(run.code, run.stderr).toBe(0);
      const truth = emu.truth.serverlessNanoByDay(ACCOUNT, start, new Date(now));
      expect(truth.size).toBe(61);
      const got = nanoByDay(records(run, 'serverless_usage'), 'bucket', 'cost_total_nano_usd');
      expect(sortedDays(got)).toEqual(sortedDays(truth));
      expect(total(got)).toBeGreaterThan(0n);
    });

    it('then rows without an app and without an environment are present, and every id is distinct and never null', () => {
      const rows = records(run, 'serverless_usage');
      expect(rows.some((r) => r.app === null && r.environment === null)).toBe(true);
      expect(rows.some((r) => r.app !== null && r.environment === null)).toBe(true);
      expect(rows.some((r) => r.is_surge === true)).toBe(true);
      for (const row of rows) expect(typeof row.id).toBe('string');
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    });

    it('then every bucket is a UTC midnight in RFC 3339 and cost_total agrees with its nano column', () => {
      for (const row of records(run, 'serverless_usage')) {
        expect(String(row.bucket)).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
        expect(row.unit).toBe('second');
        expect(Math.round(Number(row.cost_total) * 1e9)).toBe(row.cost_total_nano_usd);
      }
    });

    it('then every request asked for explicit UTC windows at midnight, time_series only, at most 100 lines a page', () => {
      const requests = emu.requests.filter((r) => r.path === '/v1/serverless/usage');
      expect(requests.length).toBeGreaterThan(0);
      for (const request of requests) {
        expect(request.query).toMatchObject({
          timeframe: ['day'],
          bound_to_timeframe: ['false'],
          timezone: ['UTC'],
          expand: ['time_series'],
        });
        expect(Number(request.query.limit?.[0])).toBeLessThanOrEqual(100);
        expect(request.query.start?.[0]).toMatch(/T00:00:00Z$/);
      }
    });

    it('then the final state is the start of the still-open UTC day', () => {
      expect(states(run, 'serverless_usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-25T00:00:00Z' });
    });

    describe('and then the clock moves on two days and an incremental read resumes from the state', () => {
      let second: CliResult;
      const later = new Date(now + 2 * DAY).toISOString();
      beforeAll(async () => {
        emu.setNow(later);
        second = await read({}, later, finalStateFile(run));
      });
      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then the union of both reads, upserted by id, equals the emulator as of the new clock, late rows included', () => {
        expect(second.code, second.stderr).toBe(0);
        const union = nanoByDay(
          upsert([...records(run, 'serverless_usage'), ...records(second, 'serverless_usage')], 'id'),
          'bucket',
          'cost_total_nano_usd',
        );
        const truth = emu.truth.serverlessNanoByDay(ACCOUNT, start, new Date(later), new Date(later));
        expect(sortedDays(union)).toEqual(sortedDays(truth));
        const before = nanoByDay(records(run, 'serverless_usage'), 'bucket', 'cost_total_nano_usd');
        // Late rows really did arrive: a UTC day already closed at the first read changed between the reads.
        const changed = [...before].filter(([day, nano]) => Date.parse(day) + DAY <= now && truth.get(day) !== nano);
        expect(changed.length).toBeGreaterThan(0);
      });

      it('then the cursor moved forward to the new open day', () => {
        expect(states(second, 'serverless_usage').at(-1)?.stream.stream_state).toEqual({
          bucket: '2026-11-27T00:00:00Z',
        });
      });
    });
  });

  describe('when serverless_usage is read at hour granularity', () => {
    it('then buckets are whole UTC hours and days still reconcile to the nano-dollar', async () => {
      const from = new Date(now - 4 * DAY).toISOString().slice(0, 10);
      const run = await read({ start_date: from, usage_granularity: 'hour' }, FIXED_NOW);
      expect(run.code, run.stderr).toBe(0);
      const rows = records(run, 'serverless_usage');
      for (const row of rows) {
        expect(String(row.bucket)).toMatch(/T\d{2}:00:00Z$/);
        expect(row.timeframe).toBe('hour');
      }
      const truth = emu.truth.serverlessNanoByDay(ACCOUNT, new Date(`${from}T00:00:00Z`), new Date(now));
      expect(sortedDays(nanoByDay(rows, 'bucket', 'cost_total_nano_usd'))).toEqual(sortedDays(truth));
      expect(states(run, 'serverless_usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-25T12:00:00Z' });
    });
  });
});
