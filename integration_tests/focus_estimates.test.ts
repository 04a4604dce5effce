/**
 * Whole-connector tests of `focus_estimates` (fal's daily pre-invoice FOCUS rows) against the fal emulator:
 * per-UTC-day totals equal the emulator's ledger to the nano-dollar; fal's 90-day limit is kept (and said once);
 * an incremental run re-reads at least 7 days, updating late estimates under the same ids; a key
 * without FOCUS reports leaves the stream out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NOFOCUS_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
type Row = Record<string, unknown>;

const byDay = (rows: readonly Row[]): Map<string, bigint> => {
  const out = new Map<string, bigint>();
  for (const row of rows) {
    const day = String(row.ChargePeriodStart).slice(0, 10);
    out.set(day, (out.get(day) ?? 0n) + BigInt(Number(row.billed_cost_nano_usd)));
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
};

/** Rows upserted by id, as a warehouse holds them after each run. */
const upsert = (...runs: readonly Row[][]): Row[] => [
  ...new Map(runs.flat().map((row) => [String(row.id), row])).values(),
];

describe('given 120 days of fal usage in the emulator and a key with FOCUS reports', () => {
  let emu: Emulator;
  const dir = tempDir();
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const run = (
    args: { clock?: string; state?: unknown; config?: Record<string, unknown>; discover?: boolean } = {},
  ) => {
    const tag = Math.random().toString(36).slice(2);
    const config = writeJson(dir, `c-${tag}.json`, configFor(emu.url, { start_date: '2026-08-01', ...args.config }));
    return runCli(
      args.discover
        ? ['discover', '--config', config]
        : [
            'read',
            '--config',
            config,
            '--catalog',
            writeJson(dir, `k-${tag}.json`, catalogFor(['focus_estimates'])),
            ...(args.state ? ['--state', writeJson(dir, `s-${tag}.json`, args.state)] : []),
          ],
      { env: cliEnv(args.clock ?? FIXED_NOW) },
    );
  };

  describe('when it is read from a start_date 116 days back', () => {
    let first: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      first = await run();
    });

    it('then it starts 89 days back (fal keeps 90), says so once, and asks for at most 30 days a request', () => {
      expect(first.code, first.stderr).toBe(0);
      const logs = first.messages.filter(
        (m) => m.type === 'LOG' && /fal keeps estimates for 90 days/.test(JSON.stringify(m)),
      );
      expect(logs).toHaveLength(1);
      const asked = emu.requests.filter((r) => r.path === '/v1/account/focus');
      expect(asked.every((r) => r.query.source?.[0] === 'estimate')).toBe(true);
      expect(asked[0]?.query.start?.[0]).toBe('2026-08-28T00:00:00Z');
      for (const r of asked)
        expect(Date.parse(String(r.query.end?.[0])) - Date.parse(String(r.query.start?.[0]))).toBeLessThanOrEqual(
          30 * DAY,
        );
    });

    it('then every UTC day’s estimate equals the emulator’s usage ledger to the nano-dollar, with unique ids', () => {
      const rows = records(first, 'focus_estimates');
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      const truth = emu.truth.usageNanoByDay(ACCOUNT, new Date('2026-08-28T00:00:00Z'), new Date(FIXED_NOW));
      expect(byDay(rows)).toEqual(new Map([...truth].sort(([a], [b]) => a.localeCompare(b))));
      expect(rows.every((r) => r.InvoiceId === null && r.ChargeCategory === 'Usage')).toBe(true);
    });

    it('then two days later an incremental run re-reads the last 7 days, and late usage updates the same rows', async () => {
      const later = new Date(Date.parse(FIXED_NOW) + 2 * DAY).toISOString();
      emu.setNow(later);
      emu.requests.length = 0;
      const second = await run({ clock: later, state: finalStateFile(first) });
      expect(second.code, second.stderr).toBe(0);
      const asked = emu.requests.filter((r) => r.path === '/v1/account/focus');
      // At least 7 days before the saved cursor (the day of the first run's end) are read again.
      expect(asked[0]?.query.start?.[0]).toBe('2026-11-18T00:00:00Z');
      const merged = upsert(records(first, 'focus_estimates'), records(second, 'focus_estimates'));
      const truth = emu.truth.usageNanoByDay(ACCOUNT, new Date('2026-08-28T00:00:00Z'), new Date(later));
      expect(byDay(merged)).toEqual(new Map([...truth].sort(([a], [b]) => a.localeCompare(b))));
      // A re-read line keeps its id: the second run's November ids cover the first run's.
      const reread = (rows: Row[]) =>
        new Set(rows.filter((r) => String(r.ChargePeriodStart) >= '2026-11-18').map((r) => r.id));
      const secondIds = reread(records(second, 'focus_estimates'));
      for (const id of reread(records(first, 'focus_estimates'))) expect(secondIds.has(id)).toBe(true);
      emu.setNow(FIXED_NOW);
    });
  });

  it('when the key has no FOCUS reports then discover leaves focus_estimates out, saying why', async () => {
    const result = await run({ discover: true, config: { api_key: NOFOCUS_ADMIN_KEY } });
    expect(result.code, result.stderr).toBe(0);
    const catalog = result.messages.find((m) => m.type === 'CATALOG');
    const names = JSON.stringify(catalog);
    expect(names).not.toContain('focus_estimates');
    expect(names).toContain('"usage"');
  });
});
