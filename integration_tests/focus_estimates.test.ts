/**
 * Whole-connector tests of the `focus_estimates` stream against the fal emulator: per UTC day the estimate lines
 * equal the emulator's spend to the nano-dollar, requests stay inside fal's 90 days and our 30-day windows, an
 * incremental run re-reads the lookback days as updates (no duplicate rows, late spend included), and a key without
 * FOCUS reports leaves the stream out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NOFOCUS_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, discovered, finalStateFile, logLines, records, states, tempDir } from './helpers/cli.js';
import { type EmulatorRun, FIXED_NOW, runAgainst } from './helpers/fixtures.js';
import { nanoByDay, sortedDays, upsert } from './helpers/totals.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);
/** The oldest whole UTC day fal still estimates at FIXED_NOW (2026-11-25T12:34:56Z − 90 days, rounded up). */
const OLDEST = '2026-08-28T00:00:00Z';

describe('given 130 days of fal usage in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 120 * DAY).toISOString().slice(0, 10);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const run = (args: EmulatorRun = {}): Promise<CliResult> =>
    runAgainst(dir, emu.url, {
      streams: ['focus_estimates'],
      ...args,
      config: { start_date: startDate, ...args.config },
    });

  describe('when focus_estimates is read from a start_date 120 days back', () => {
    let first: CliResult;
    let lines: Record<string, unknown>[];
    beforeAll(async () => {
      emu.requests.length = 0;
      first = await run();
      lines = records(first, 'focus_estimates');
    });

    it('then it asks only for the last 90 days, in windows of at most 30 whole days, and says so once', () => {
      expect(first.code, first.stderr).toBe(0);
      const asked = emu.requests
        .filter((r) => r.path === '/v1/account/focus')
        .map((r) => [r.query.source?.[0], r.query.start?.[0], r.query.end?.[0], r.status] as const)
        .sort(([, a], [, b]) => String(a).localeCompare(String(b)));
      expect(asked.map(([source, , , status]) => `${source} ${status}`)).toEqual(asked.map(() => 'estimate 200'));
      expect(asked[0]?.[1]).toBe(OLDEST);
      expect(asked.at(-1)?.[2]).toBe(FIXED_NOW);
      for (const [, start, end] of asked) {
        expect(Date.parse(String(end)) - Date.parse(String(start))).toBeLessThanOrEqual(30 * DAY);
        expect(String(start).endsWith('T00:00:00Z')).toBe(true);
      }
      expect(logLines(first, 'INFO').filter((m) => m.startsWith('focus_estimates'))).toEqual([
        `focus_estimates: fal keeps FOCUS estimates for 90 days, so reading starts at ${OLDEST} instead of ${startDate}T00:00:00Z; the charges of earlier months are in the invoices stream.`,
      ]);
      expect(states(first, 'focus_estimates').at(-1)?.stream.stream_state).toEqual({
        ChargePeriodStart: '2026-11-25T00:00:00Z',
      });
    });

    it('then per UTC charge day the estimates equal the emulator’s spend to the nano-dollar, with distinct ids', () => {
      const truth = emu.truth.usageNanoByDay(ACCOUNT, new Date(OLDEST), new Date(now));
      expect(truth.size).toBeGreaterThan(80);
      expect(sortedDays(nanoByDay(lines, 'ChargePeriodStart', 'billed_cost_nano_usd'))).toEqual(sortedDays(truth));
      expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
      for (const l of lines) {
        expect(l.ChargeCategory).toBe('Usage');
        expect(l.InvoiceId).toBeNull();
        expect(Date.parse(String(l.ChargePeriodEnd)) - Date.parse(String(l.ChargePeriodStart))).toBe(DAY);
      }
    });

    it('then a later incremental run re-reads the lookback days as updates: no duplicates, and the late spend is in', async () => {
      const later = '2026-11-25T20:00:00Z';
      emu.setNow(later);
      try {
        const second = await run({ clock: later, state: finalStateFile(first) });
        expect(second.code, second.stderr).toBe(0);
        const again = records(second, 'focus_estimates');
        // lookback_days 3 before the saved day 2026-11-25: 2026-11-22 to now.
        expect([...new Set(again.map((l) => String(l.ChargePeriodStart)))].sort()).toEqual([
          '2026-11-22T00:00:00Z',
          '2026-11-23T00:00:00Z',
          '2026-11-24T00:00:00Z',
          '2026-11-25T00:00:00Z',
        ]);
        // Re-read lines keep their ids; only today's grew.
        const firstIds = new Set(lines.map((l) => l.id));
        const reread = again.filter((l) => firstIds.has(l.id));
        expect(reread.length).toBeGreaterThan(0);
        const merged = upsert([...lines, ...again], 'id');
        const truth = emu.truth.usageNanoByDay(ACCOUNT, new Date(OLDEST), new Date(later));
        expect(sortedDays(nanoByDay(merged, 'ChargePeriodStart', 'billed_cost_nano_usd'))).toEqual(sortedDays(truth));
        const today = (rows: Record<string, unknown>[]): bigint =>
          nanoByDay(rows, 'ChargePeriodStart', 'billed_cost_nano_usd').get('2026-11-25') ?? 0n;
        expect(today(again)).toBeGreaterThan(today(lines));
        expect(logLines(second, 'INFO').filter((m) => m.startsWith('focus_estimates'))).toEqual([]);
      } finally {
        emu.setNow(FIXED_NOW);
      }
    });
  });

  describe('when the key’s account has no FOCUS reports', () => {
    it('then discover leaves focus_estimates out with a WARN naming FOCUS reports', async () => {
      const d = await run({ command: 'discover', config: { api_key: NOFOCUS_ADMIN_KEY } });
      expect(d.code).toBe(0);
      const names = discovered(d);
      expect(names).toContain('usage');
      expect(names).not.toContain('focus_estimates');
      expect(logLines(d, 'WARN').filter((w) => w.startsWith('Stream focus_estimates'))).toEqual([
        expect.stringMatching(/^Stream focus_estimates is left out of the catalog: FOCUS reports are not enabled/),
      ]);
    });
  });
});
