/**
 * Whole-connector tests of the `org_billing_events` stream with an organization root key: the union of the teams'
 * events comes back exactly once per request_id with the team's username and exact nano-USD, every request stays
 * within fal's limits (≤ 100 rows a page) and the connector's (one UTC day a window), and the lookback catches
 * late events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, type OrgBillingEventTruth, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, states, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';
import { upsert } from './helpers/totals.js';

const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

/** What a record must hold for one truth event. */
const expected = (e: OrgBillingEventTruth): Record<string, unknown> => ({
  request_id: e.request_id,
  username: e.username,
  endpoint_id: e.endpoint_id,
  timestamp: e.timestamp,
  output_units: e.output_units,
  percent_discount: e.percent_discount,
  cost_estimate_nano_usd: e.cost_total_nano,
  cost_total_nano_usd: e.cost_total_nano,
  api_key_id: e.auth_method_structured.api_key_id ?? null,
  login_username: e.auth_method_structured.login_username ?? null,
  auth_method: e.org_auth_method,
});

const pick = (row: Record<string, unknown>, like: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.keys(like).map((k) => [k, row[k]]));

describe('given an organization with three teams in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 6 * DAY).toISOString().slice(0, 10);
  const start = new Date(`${startDate}T00:00:00Z`);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (clock: string, state?: unknown): Promise<CliResult> =>
    runCli(
      [
        'read',
        '--config',
        writeJson(dir, 'config.json', configFor(emu.url, { api_key: ORG_ADMIN_KEY, start_date: startDate })),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['org_billing_events'])),
        ...(state ? ['--state', writeJson(dir, `state-${Math.random().toString(36).slice(2)}.json`, state)] : []),
      ],
      { env: cliEnv(clock) },
    );

  describe('when org_billing_events is read from start_date to now', () => {
    let run: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      run = await read(FIXED_NOW);
    });

    it('then the records are exactly the union of the teams’ events, once each, with username and exact nano-USD', () => {
      expect(run.code, run.stderr).toBe(0);
      const truth = emu.truth.orgEvents('acme', start, new Date(now));
      const rows = records(run, 'org_billing_events');
      expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
      expect(rows.length).toBe(truth.length);
      expect(new Set(truth.map((e) => e.username))).toEqual(new Set(['acme', 'acme-ml', 'acme-infra']));
      const byId = new Map(rows.map((r) => [String(r.request_id), r]));
      for (const e of truth) {
        const want = expected(e);
        expect(pick(byId.get(e.request_id) ?? {}, want)).toEqual(want);
      }
    });

    it("then each team's events equal that team's own billing events", () => {
      const rows = records(run, 'org_billing_events');
      for (const team of ['acme', 'acme-ml', 'acme-infra']) {
        const own = [...emu.truth.events(team, start, new Date(now))].map((e) => e.request_id).sort();
        expect(
          rows
            .filter((r) => r.username === team)
            .map((r) => String(r.request_id))
            .sort(),
          team,
        ).toEqual(own);
      }
    });

    it('then every request asked for at most 100 rows and at most one UTC day, starting at midnight', () => {
      const requests = emu.requests.filter((r) => r.path === '/v1/organization/billing-events');
      // Three teams make several hundred events a day: more than one page per window.
      expect(requests.length).toBeGreaterThan(14);
      for (const request of requests) {
        expect(Number(request.query.limit?.[0])).toBeLessThanOrEqual(100);
        const from = Date.parse(request.query.start?.[0] ?? '');
        const to = Date.parse(request.query.end?.[0] ?? '');
        expect(to - from).toBeGreaterThan(0);
        expect(to - from).toBeLessThanOrEqual(DAY);
        expect(from % DAY).toBe(0);
      }
    });

    it('then a state follows each completed day and the last one is the run’s clock', () => {
      const saved = states(run, 'org_billing_events').map((s) => s.stream.stream_state.timestamp);
      expect(saved).toHaveLength(7);
      expect(saved.at(-2)).toBe('2026-11-25T00:00:00Z');
      expect(saved.at(-1)).toBe(FIXED_NOW);
    });

    describe('and then the clock moves on two days and an incremental read resumes from the state', () => {
      let second: CliResult;
      const later = new Date(now + 2 * DAY).toISOString();
      beforeAll(async () => {
        emu.requests.length = 0;
        emu.setNow(later);
        second = await read(later, finalStateFile(run));
      });
      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then the union of both reads, upserted by request_id, equals the emulator as of the new clock, late events included', () => {
        expect(second.code, second.stderr).toBe(0);
        const union = upsert(
          [...records(run, 'org_billing_events'), ...records(second, 'org_billing_events')],
          'request_id',
        );
        const truth = emu.truth.orgEvents('acme', start, new Date(later), new Date(later));
        expect(union.map((r) => String(r.request_id)).sort()).toEqual(truth.map((e) => e.request_id).sort());
        const firstIds = new Set(records(run, 'org_billing_events').map((r) => r.request_id));
        const late = truth.filter((e) => e.timestampMs < now && !firstIds.has(e.request_id));
        expect(late.length).toBeGreaterThan(0);
      });

      it('then it re-read only the lookback (3 days before the saved cursor, from midnight)', () => {
        const starts = emu.requests
          .filter((r) => r.path === '/v1/organization/billing-events')
          .map((r) => Date.parse(r.query.start?.[0] ?? ''));
        expect(Math.min(...starts)).toBe(Date.parse('2026-11-22T00:00:00Z'));
      });
    });
  });
});
