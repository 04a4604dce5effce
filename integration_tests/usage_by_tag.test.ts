/**
 * Whole-connector tests of `usage_by_tag` (GET /v1/models/usage?source=tagged-estimate) against the fal emulator:
 * per UTC day and tag, its totals equal the billing events with those tags to the nano-dollar; untagged usage
 * appears under `{}`; across tags it equals `usage`; the lagging aggregate is re-read by the next run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

type Row = Record<string, unknown>;
const DAY = 86_400_000;

/** nano-USD per `day|tags`, tags as canonical JSON. */
function byDayAndTags(rows: readonly Row[], time: string, nano: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const row of rows) {
    const tags = JSON.stringify(Object.fromEntries(Object.entries(row.tags ?? {}).sort()));
    const key = `${String(row[time]).slice(0, 10)}|${tags}`;
    out.set(key, (out.get(key) ?? 0n) + BigInt(Number(row[nano])));
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/** The emulator's events as of `asOf`, the same way. */
function truthByDayAndTags(emu: Emulator, from: string, to: string, asOf: string): Map<string, bigint> {
  const events = [...emu.truth.events('acme-ml', new Date(from), new Date(to), new Date(asOf))];
  return byDayAndTags(
    events.map((e) => ({ timestamp: e.timestamp, tags: e.tags, nano: e.cost_total_nano })),
    'timestamp',
    'nano',
  );
}

const LAG_MS = 3 * 3_600_000;
const minus = (iso: string, ms: number): string => new Date(Date.parse(iso) - ms).toISOString();

const before = (map: Map<string, bigint>, day: string): Map<string, bigint> =>
  new Map([...map].filter(([key]) => key.slice(0, 10) < day));

describe('given 20 days of fal usage whose API-key requests carry project tags', () => {
  let emu: Emulator;
  const dir = tempDir();
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const read = (streams: string[], args: { clock?: string; state?: unknown } = {}): Promise<CliResult> => {
    const tag = Math.random().toString(36).slice(2);
    return runCli(
      [
        'read',
        '--config',
        writeJson(dir, `c-${tag}.json`, configFor(emu.url, { start_date: '2026-11-12', lookback_days: 0 })),
        '--catalog',
        writeJson(dir, `k-${tag}.json`, catalogFor(streams)),
        ...(args.state ? ['--state', writeJson(dir, `s-${tag}.json`, args.state)] : []),
      ],
      { env: cliEnv(args.clock ?? FIXED_NOW) },
    );
  };

  describe('when usage_by_tag, usage and billing_events are read', () => {
    let run: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      run = await read(['usage_by_tag', 'usage', 'billing_events']);
    });

    it('then it asks for the tagged aggregate, and per UTC day and tag it equals the tagged billing events to the nano-dollar', () => {
      expect(run.code, run.stderr).toBe(0);
      const asked = emu.requests.filter(
        (r) => r.path === '/v1/models/usage' && r.query.source?.[0] === 'tagged-estimate',
      );
      expect(asked.length).toBeGreaterThan(0);
      const tagged = byDayAndTags(records(run, 'usage_by_tag'), 'bucket', 'cost_total_nano_usd');
      // The tagged aggregate is the billing events as of a few hours ago (it lags the estimate).
      expect(tagged).toEqual(truthByDayAndTags(emu, '2026-11-12', FIXED_NOW, minus(FIXED_NOW, LAG_MS)));
      // And the tagged billing events read by billing_events agree on every day the lag no longer touches.
      const events = byDayAndTags(records(run, 'billing_events'), 'timestamp', 'cost_estimate_nano_usd');
      const settled = truthByDayAndTags(emu, '2026-11-12', '2026-11-21', minus(FIXED_NOW, LAG_MS));
      expect(before(events, '2026-11-21')).toEqual(settled);
      expect(new Set([...tagged.keys()].map((k) => k.slice(11)))).toEqual(
        new Set(['{}', '{"project":"image"}', '{"project":"video"}']),
      );
    });

    it('then across tags each settled day equals usage, and ids are unique', () => {
      const rows = records(run, 'usage_by_tag');
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      const perDay = (xs: readonly Row[]) => {
        const out = new Map<string, bigint>();
        for (const r of xs) {
          const day = String(r.bucket).slice(0, 10);
          out.set(day, (out.get(day) ?? 0n) + BigInt(Number(r.cost_total_nano_usd)));
        }
        // Days no late request can reach any more (fal bills up to 72 h late): the tagged aggregate lags usage.
        return new Map([...out].filter(([d]) => d < '2026-11-21'));
      };
      expect(perDay(rows)).toEqual(perDay(records(run, 'usage')));
    });

    it('then the next run, with lookback_days 0, still re-reads two days of the lagging aggregate and completes today', async () => {
      const later = new Date(Date.parse(FIXED_NOW) + DAY).toISOString();
      emu.setNow(later);
      emu.requests.length = 0;
      const next = await read(['usage_by_tag'], { clock: later, state: finalStateFile(run) });
      expect(next.code, next.stderr).toBe(0);
      const first = emu.requests.find((r) => r.path === '/v1/models/usage');
      expect(first?.query.start?.[0]).toBe('2026-11-23T00:00:00Z');
      const merged = [
        ...new Map([...records(run, 'usage_by_tag'), ...records(next, 'usage_by_tag')].map((r) => [r.id, r])).values(),
      ];
      // Every day from the re-read on is as the lagging aggregate has it now; the days before are as the first run had them.
      expect(
        new Map([...byDayAndTags(merged, 'bucket', 'cost_total_nano_usd')].filter(([k]) => k >= '2026-11-23')),
      ).toEqual(truthByDayAndTags(emu, '2026-11-23', later, minus(later, LAG_MS)));
      emu.setNow(FIXED_NOW);
    });
  });
});
