/**
 * Whole-connector tests of the `org_usage` stream with an organization root key: every team × product reconciles to
 * the nano-dollar with the emulator, and a team's model_apis and serverless lines add up to what that team's own key
 * reads through `usage` and `serverless_usage`. Keys that may not read it are covered in key_scopes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, type Product, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, finalStateFile, records, runCli, states, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';
import { nanoByDay, sortedDays, total, upsert } from './helpers/totals.js';

const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);
const TEAMS = ['acme', 'acme-ml', 'acme-infra'];
const PRODUCTS: Product[] = ['model_apis', 'serverless', 'compute'];

describe('given an organization with three teams in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 30 * DAY).toISOString().slice(0, 10);
  const start = new Date(`${startDate}T00:00:00Z`);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 40 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (
    streams: string[],
    overrides: Record<string, unknown>,
    clock = FIXED_NOW,
    state?: unknown,
  ): Promise<CliResult> =>
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
        writeJson(dir, `catalog-${streams.join('-')}.json`, catalogFor(streams)),
        ...(state ? ['--state', writeJson(dir, `state-${Math.random().toString(36).slice(2)}.json`, state)] : []),
      ],
      { env: cliEnv(clock) },
    );

  const slice = (rows: Record<string, unknown>[], team: string, product: string): Record<string, unknown>[] =>
    rows.filter((r) => r.username === team && r.product === product);

  describe('when org_usage is read with the org root key', () => {
    let run: CliResult;
    beforeAll(async () => {
      emu.requests.length = 0;
      run = await read(['org_usage'], { api_key: ORG_ADMIN_KEY });
    });

    it('then every team × product reconciles per UTC day with the emulator to the nano-dollar', () => {
      expect(run.code, run.stderr).toBe(0);
      const rows = records(run, 'org_usage');
      for (const team of TEAMS) {
        for (const product of PRODUCTS) {
          const truth = emu.truth.orgUsageNanoByDay(team, product, start, new Date(now));
          const got = nanoByDay(slice(rows, team, product), 'bucket', 'cost_nano_usd');
          expect(sortedDays(got), `${team} ${product}`).toEqual(sortedDays(truth));
        }
      }
      // Products without data for a team stay absent rather than zero rows: acme-ml has no dedicated compute.
      expect(slice(rows, 'acme-ml', 'compute')).toEqual([]);
      expect(total(nanoByDay(slice(rows, 'acme-infra', 'compute'), 'bucket', 'cost_nano_usd'))).toBeGreaterThan(0n);
    });

    it('then every row has a distinct id, a team username, a known product and fal cost with its exact nano value', () => {
      const rows = records(run, 'org_usage');
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      expect(new Set(rows.map((r) => r.username))).toEqual(new Set(TEAMS));
      expect(new Set(rows.map((r) => r.product))).toEqual(new Set(PRODUCTS));
      for (const row of rows) {
        expect(Math.round(Number(row.cost) * 1e9)).toBe(row.cost_nano_usd);
        expect(Math.round(Number(row.cost_total) * 1e9)).toBe(row.cost_total_nano_usd);
        expect(row.percent_discount).toEqual(expect.any(Number));
      }
      // fal's current shape: one line per discount rate, so discounted and undiscounted usage of one grain are two rows.
      expect(rows.some((r) => Number(r.percent_discount) > 0)).toBe(true);
      // model_apis lines name who spent it; serverless and compute have no key.
      expect(
        rows.filter((r) => r.product === 'model_apis').every((r) => r.api_key_id !== null || r.login_username !== null),
      ).toBe(true);
      expect(
        rows.filter((r) => r.product !== 'model_apis').every((r) => r.api_key_id === null && r.auth_method === 'None'),
      ).toBe(true);
    });

    it('then every request asked for explicit UTC day windows with time_series and auth_method_structured', () => {
      const requests = emu.requests.filter((r) => r.path === '/v1/organization/usage');
      expect(requests.length).toBeGreaterThan(1);
      for (const request of requests) {
        expect(request.query).toMatchObject({
          timeframe: ['day'],
          bound_to_timeframe: ['false'],
          timezone: ['UTC'],
          expand: ['time_series,auth_method_structured'],
        });
        expect(Number(request.query.limit?.[0])).toBeLessThanOrEqual(100);
        expect(request.query.start?.[0]).toMatch(/T00:00:00Z$/);
      }
    });

    it("then acme-ml's model_apis and serverless lines equal what acme-ml's own key reads through usage and serverless_usage", async () => {
      const own = await read(['usage', 'serverless_usage'], { api_key: ADMIN_KEY });
      expect(own.code, own.stderr).toBe(0);
      const rows = records(run, 'org_usage');
      const orgModel = nanoByDay(slice(rows, 'acme-ml', 'model_apis'), 'bucket', 'cost_nano_usd');
      const ownModel = nanoByDay(records(own, 'usage'), 'bucket', 'cost_total_nano_usd');
      expect(sortedDays(orgModel)).toEqual(sortedDays(ownModel));
      const orgServerless = nanoByDay(slice(rows, 'acme-ml', 'serverless'), 'bucket', 'cost_nano_usd');
      const ownServerless = nanoByDay(records(own, 'serverless_usage'), 'bucket', 'cost_total_nano_usd');
      expect(sortedDays(orgServerless)).toEqual(sortedDays(ownServerless));
      expect(total(orgModel)).toBeGreaterThan(0n);
    });

    describe('and then the clock moves on two days and an incremental read resumes from the state', () => {
      let second: CliResult;
      const later = new Date(now + 2 * DAY).toISOString();
      beforeAll(async () => {
        emu.setNow(later);
        second = await read(['org_usage'], { api_key: ORG_ADMIN_KEY }, later, finalStateFile(run));
      });
      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then the union of both reads, upserted by id, equals the emulator as of the new clock for every team and product', () => {
        expect(second.code, second.stderr).toBe(0);
        const union = upsert([...records(run, 'org_usage'), ...records(second, 'org_usage')], 'id');
        for (const team of TEAMS) {
          for (const product of PRODUCTS) {
            const truth = emu.truth.orgUsageNanoByDay(team, product, start, new Date(later), new Date(later));
            expect(
              sortedDays(nanoByDay(slice(union, team, product), 'bucket', 'cost_nano_usd')),
              `${team} ${product}`,
            ).toEqual(sortedDays(truth));
          }
        }
        expect(states(second, 'org_usage').at(-1)?.stream.stream_state).toEqual({ bucket: '2026-11-27T00:00:00Z' });
      });
    });
  });
});

describe('given an emulator that answers in the older /organization/usage shape (cost only, no discount fields)', () => {
  it(
    'when org_usage is read then every team × product still reconciles per UTC day, with cost_total taken from cost',
    { timeout: 60_000 },
    async () => {
      const emu = await startEmulator({ now: FIXED_NOW, historyDays: 20, legacyShapes: true });
      try {
        const dir = tempDir();
        const startDate = new Date(now - 10 * DAY).toISOString().slice(0, 10);
        const run = await runCli(
          [
            'read',
            '--config',
            writeJson(dir, 'config.json', configFor(emu.url, { start_date: startDate, api_key: ORG_ADMIN_KEY })),
            '--catalog',
            writeJson(dir, 'catalog.json', catalogFor(['org_usage'])),
          ],
          { env: cliEnv() },
        );
        expect(run.code, run.stderr).toBe(0);
        const rows = records(run, 'org_usage');
        expect(rows.every((r) => r.percent_discount === null && r.cost_total === r.cost)).toBe(true);
        for (const team of TEAMS) {
          for (const product of PRODUCTS) {
            const got = nanoByDay(
              rows.filter((r) => r.username === team && r.product === product),
              'bucket',
              'cost_total_nano_usd',
            );
            expect(sortedDays(got), `${team} ${product}`).toEqual(
              sortedDays(emu.truth.orgUsageNanoByDay(team, product, new Date(`${startDate}T00:00:00Z`), new Date(now))),
            );
          }
        }
      } finally {
        await emu.close();
      }
    },
  );
});
