/**
 * Whole-connector tests of the `billing_events` stream against the fal emulator: every billed request arrives
 * exactly once and reconciles with `usage` per UTC day to the nano-dollar, requests respect fal's 10,000-row and
 * 90-day limits, the lookback picks up late events, and a killed run resumes from its last state losing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, type RequestLogEntry, startEmulator } from '../source-fal/emulator/server.js';
import {
  type CliResult,
  finalStateFile,
  records,
  runCli,
  type RunOptions,
  states,
  statuses,
  tempDir,
  writeJson,
} from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);
const PATH = '/v1/models/billing-events';

type Row = Record<string, unknown>;

/** Rows upserted by a key, the last one winning, as a warehouse MERGE would. */
function upsert(rows: Row[], key: string): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const row of rows) out.set(String(row[key]), row);
  return out;
}

/** Exact nano-USD per UTC day (YYYY-MM-DD) of `day(row)`. */
function nanoByDay(rows: Iterable<Row>, day: (row: Row) => string, nano: (row: Row) => unknown): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const row of rows) out.set(day(row), (out.get(day(row)) ?? 0n) + BigInt(Number(nano(row))));
  return out;
}

const sorted = (m: Map<string, bigint>): [string, string][] =>
  [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.toString()]);
const eventsByDay = (rows: Iterable<Row>): Map<string, bigint> =>
  nanoByDay(
    rows,
    (r) => String(r.timestamp).slice(0, 10),
    (r) => r.cost_estimate_nano_usd,
  );
const usageByDay = (rows: Iterable<Row>): Map<string, bigint> =>
  nanoByDay(
    rows,
    (r) => String(r.bucket).slice(0, 10),
    (r) => r.cost_total_nano_usd,
  );

/** Every logged billing-events request: limit within fal's page maximum, range within its 90-day cap and our one-day slices. */
function assertWithinLimits(requests: readonly RequestLogEntry[]): void {
  expect(requests.length).toBeGreaterThan(0);
  for (const request of requests) {
    const limit = Number(request.query.limit?.[0]);
    const range = Date.parse(request.query.end?.[0] ?? '') - Date.parse(request.query.start?.[0] ?? '');
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThanOrEqual(10_000);
    expect(range).toBeGreaterThan(0);
    expect(range).toBeLessThanOrEqual(90 * DAY);
    expect(range).toBeLessThanOrEqual(DAY);
    expect(request.query.expand).toEqual(['auth_method_structured']);
  }
}

describe('given 120 days of billed requests in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 120 * DAY).toISOString().slice(0, 10);
  const from = new Date(`${startDate}T00:00:00Z`);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (
    streams: string[],
    clock: string,
    overrides: Record<string, unknown> = {},
    state?: unknown,
    killWhen?: RunOptions['killWhen'],
  ): Promise<CliResult> => {
    const tag = Math.random().toString(36).slice(2);
    return runCli(
      [
        'read',
        '--config',
        writeJson(dir, `config-${tag}.json`, configFor(emu.url, { start_date: startDate, ...overrides })),
        '--catalog',
        writeJson(dir, `catalog-${tag}.json`, catalogFor(streams)),
        ...(state ? ['--state', writeJson(dir, `state-${tag}.json`, state)] : []),
      ],
      { env: cliEnv(clock), ...(killWhen ? { killWhen } : {}) },
    );
  };

  describe('when usage and billing_events are read from start_date to now', () => {
    let run: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      run = await read(['usage', 'billing_events'], FIXED_NOW);
    });

    it('then every visible request arrives exactly once, keyed by request_id', () => {
      expect(run.code, run.stderr).toBe(0);
      const rows = records(run, 'billing_events');
      expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
      expect(rows.length).toBe(emu.truth.countEvents(ACCOUNT, from, new Date(now)));
      expect(rows.length).toBeGreaterThan(120 * 100);
    });

    it('then billing_events per UTC day == usage per UTC day == the emulator, to the nano-dollar, on every one of 121 days', () => {
      const events = eventsByDay(records(run, 'billing_events'));
      const usage = usageByDay(upsert(records(run, 'usage'), 'id').values());
      const truth = emu.truth.usageNanoByDay(ACCOUNT, from, new Date(now));
      expect(truth.size).toBe(121);
      expect(sorted(events)).toEqual(sorted(truth));
      expect(sorted(usage)).toEqual(sorted(events));
    });

    it('then each record matches the emulator’s event field by field, timestamps in RFC 3339 UTC', () => {
      const byId = upsert(records(run, 'billing_events'), 'request_id');
      let checked = 0;
      for (const e of emu.truth.events(ACCOUNT, new Date(now - 2 * DAY), new Date(now))) {
        expect(byId.get(e.request_id)).toEqual({
          request_id: e.request_id,
          endpoint_id: e.endpoint_id,
          timestamp: e.timestamp,
          output_units: e.output_units,
          unit_price: e.unit_price_nano / 1e9,
          percent_discount: e.percent_discount,
          cost_subtotal: e.cost_subtotal_nano / 1e9,
          cost_discount: e.cost_discount_nano / 1e9,
          cost_total: e.cost_total_nano / 1e9,
          cost_estimate_nano_usd: e.cost_total_nano,
          unit: e.unit,
          quantity: e.output_units,
          tags: e.tags,
          auth_method: e.auth_method,
          api_key_id: e.auth_method_structured.api_key_id ?? null,
          login_username: e.auth_method_structured.login_username ?? null,
        });
        checked++;
      }
      expect(checked).toBeGreaterThan(100);
      // Key requests carry their project tag, web-UI ones none: both kinds are in the data.
      const tags = new Set([...byId.values()].map((r) => JSON.stringify(r.tags)));
      expect(tags).toEqual(new Set(['{}', '{"project":"image"}', '{"project":"video"}']));
      for (const row of byId.values()) expect(String(row.timestamp)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    });

    it('then every request stayed within 10,000 rows and a quarter of a UTC day (read concurrently; fal’s cap is 90 days), with a checkpoint per window', () => {
      const requests = emu.requests.filter((r) => r.path === PATH);
      assertWithinLimits(requests);
      for (const request of requests) expect(request.query.start?.[0]).toMatch(/T(00|06|12|18):00:00Z$/);
      // 120 whole days and the open one up to 12:34:56, in quarter days.
      expect(states(run, 'billing_events')).toHaveLength(120 * 4 + 3);
      expect(states(run, 'billing_events').at(-1)?.stream.stream_state).toEqual({ timestamp: FIXED_NOW });
    });

    describe('and then the clock moves on two days and an incremental read resumes from the final state', () => {
      let second: CliResult;
      const later = new Date(now + 2 * DAY).toISOString().replace('.000Z', 'Z');
      beforeAll(async () => {
        emu.requests.length = 0;
        emu.setNow(later);
        second = await read(['billing_events'], later, {}, finalStateFile(run));
      });
      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then the union of both reads by request_id equals the emulator at the new clock, late events included', () => {
        expect(second.code, second.stderr).toBe(0);
        const union = upsert([...records(run, 'billing_events'), ...records(second, 'billing_events')], 'request_id');
        expect(union.size).toBe(emu.truth.countEvents(ACCOUNT, from, new Date(later)));
        expect(sorted(eventsByDay(union.values()))).toEqual(
          sorted(emu.truth.usageNanoByDay(ACCOUNT, from, new Date(later))),
        );
        // Late events really arrived: a request timestamped before the first run's clock that it could not see.
        const firstIds = new Set(records(run, 'billing_events').map((r) => r.request_id));
        expect(
          records(second, 'billing_events').some(
            (r) => Date.parse(String(r.timestamp)) < now && !firstIds.has(r.request_id),
          ),
        ).toBe(true);
      });

      it('then it re-read only the lookback (3 days before the saved cursor, from the start of that quarter day)', () => {
        const starts = emu.requests.filter((r) => r.path === PATH).map((r) => Date.parse(r.query.start?.[0] ?? ''));
        expect(new Date(Math.min(...starts)).toISOString()).toBe('2026-11-22T12:00:00.000Z');
        expect(states(second, 'billing_events').at(-1)?.stream.stream_state).toEqual({ timestamp: later });
      });
    });
  });

  describe('when the read is killed with SIGKILL mid-way and resumed from the last state it emitted', () => {
    it('then the union of both runs by request_id equals the emulator: no request lost, none invented', async () => {
      // lookback_days 0: the resume must rest on the checkpoint alone, not on the lookback papering over a gap.
      const killed = await read(['billing_events'], FIXED_NOW, { lookback_days: 0 }, undefined, {
        signal: 'SIGKILL',
        // Kill while records of a window whose state has not been emitted yet are already out.
        when: (messages) =>
          messages.filter((m) => m.type === 'STATE').length >= 40 && messages.at(-1)?.type === 'RECORD',
      });
      expect(killed.signal).toBe('SIGKILL');
      const checkpoints = states(killed, 'billing_events');
      expect(checkpoints.length).toBeGreaterThanOrEqual(40);
      expect(checkpoints.length).toBeLessThan(120 * 4 + 3);
      expect(statuses(killed, 'billing_events')).not.toContain('COMPLETE');

      const resumed = await read(['billing_events'], FIXED_NOW, { lookback_days: 0 }, finalStateFile(killed));
      expect(resumed.code, resumed.stderr).toBe(0);
      const saved = Date.parse(String(checkpoints.at(-1)?.stream.stream_state.timestamp));
      expect(
        Math.min(...records(resumed, 'billing_events').map((r) => Date.parse(String(r.timestamp)))),
      ).toBeGreaterThanOrEqual(saved);

      const union = upsert([...records(killed, 'billing_events'), ...records(resumed, 'billing_events')], 'request_id');
      const truth = [...emu.truth.events(ACCOUNT, from, new Date(now))];
      expect(union.size).toBe(truth.length);
      const missing = truth.filter((e) => !union.has(e.request_id)).map((e) => e.request_id);
      expect(missing).toEqual([]);
      expect(sorted(eventsByDay(union.values()))).toEqual(
        sorted(emu.truth.usageNanoByDay(ACCOUNT, from, new Date(now))),
      );
    });
  });
});

describe('given a busy account billing 25,000 requests a day', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 4, eventsPerDay: 25_000 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  it('when billing_events are read then each day spans several pages of at most 10,000 rows and every request arrives once', async () => {
    const startDate = '2026-11-23';
    const run = await runCli(
      [
        'read',
        '--config',
        // One request at a time: whole-day windows, so a day of 25,000 requests needs a cursor walk of 3 pages.
        writeJson(dir, 'config.json', configFor(emu.url, { start_date: startDate, max_concurrent_requests: 1 })),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['billing_events'])),
      ],
      { env: cliEnv() },
    );
    expect(run.code, run.stderr).toBe(0);
    const requests = emu.requests.filter((r) => r.path === PATH);
    assertWithinLimits(requests);
    expect(requests.every((r) => r.query.limit?.[0] === '10000')).toBe(true);
    // Two full days and a half: at least three pages a full day, so the cursor walk is exercised.
    expect(requests.filter((r) => r.query.cursor !== undefined).length).toBeGreaterThanOrEqual(4);
    const rows = records(run, 'billing_events');
    const from = new Date(`${startDate}T00:00:00Z`);
    expect(rows.length).toBe(emu.truth.countEvents(ACCOUNT, from, new Date(now)));
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
    expect(sorted(eventsByDay(rows))).toEqual(sorted(emu.truth.usageNanoByDay(ACCOUNT, from, new Date(now))));
  });
});
