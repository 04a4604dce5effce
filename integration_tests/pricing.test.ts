/**
 * Whole-connector tests of the `pricing` stream: it prices exactly the endpoint ids seen in the account's usage over
 * the configured range plus the config's endpoint_ids, at most 50 ids a call, and an unknown id (fal answers 404
 * for the whole call) costs only that id, with a LOG naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { pricedOnlyId } from '../source-fal/emulator/pricing.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

describe('given 110 days of acme-ml usage and a price catalog in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 100 * DAY).toISOString().slice(0, 10);
  const start = new Date(`${startDate}T00:00:00Z`);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 110 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (overrides: Record<string, unknown>): Promise<CliResult> => {
    emu.requests.length = 0;
    return runCli(
      [
        'read',
        '--config',
        writeJson(
          dir,
          `config-${Math.random().toString(36).slice(2)}.json`,
          configFor(emu.url, { api_key: ADMIN_KEY, start_date: startDate, ...overrides }),
        ),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['pricing'])),
      ],
      { env: cliEnv() },
    );
  };
  const usedEndpoints = (): string[] =>
    [...new Set([...emu.truth.events('acme-ml', start, new Date(now))].map((e) => e.endpoint_id))].sort();
  const pricingRequests = (): string[][] =>
    emu.requests.filter((r) => r.path === '/v1/models/pricing').map((r) => (r.query.endpoint_id?.[0] ?? '').split(','));
  const logs = (run: CliResult): string[] =>
    run.messages.filter((m) => m.type === 'LOG').map((m) => String((m.log as { message: string }).message));

  describe('when pricing is read with no endpoint_ids configured', () => {
    let run: CliResult;
    beforeAll(async () => {
      run = await read({});
    });

    it('then it prices exactly the endpoints used over the range, at the emulator’s current prices, with exact nano values', () => {
      expect(run.code, run.stderr).toBe(0);
      const used = usedEndpoints();
      expect(used.length).toBeGreaterThanOrEqual(8);
      const rows = records(run, 'pricing');
      expect(rows.map((r) => r.endpoint_id)).toEqual(used);
      for (const row of rows) {
        const price = emu.truth.price(String(row.endpoint_id));
        expect(row).toEqual({ ...price, unit_price_nano_usd: Math.round((price?.unit_price ?? NaN) * 1e9) });
      }
      // fal-ai/veo3 changed price inside the range: the stream carries today's price, one row.
      expect(rows.filter((r) => r.endpoint_id === 'fal-ai/veo3')).toEqual([
        expect.objectContaining({ unit_price: 0.4 }),
      ]);
    });

    it('then it learned the ids from usage summaries in explicit UTC steps of at most 90 days covering the range', () => {
      const summaries = emu.requests.filter((r) => r.path === '/v1/models/usage');
      expect(summaries.map((r) => [r.query.start?.[0], r.query.end?.[0]])).toEqual([
        [`${startDate}T00:00:00Z`, new Date(start.getTime() + 90 * DAY).toISOString().replace('.000Z', 'Z')],
        [new Date(start.getTime() + 90 * DAY).toISOString().replace('.000Z', 'Z'), FIXED_NOW],
      ]);
      for (const r of summaries)
        expect(r.query).toMatchObject({ expand: ['summary'], bound_to_timeframe: ['false'], timezone: ['UTC'] });
      expect(pricingRequests()).toEqual([usedEndpoints()]);
    });
  });

  describe('when endpoint_ids lists 60 more catalog ids and two ids fal does not know', () => {
    let run: CliResult;
    const extra = Array.from({ length: 60 }, (_, i) => pricedOnlyId(i + 1));
    const unknown = ['fal-ai/does-not-exist', 'nope/unknown-model'];
    beforeAll(async () => {
      run = await read({ endpoint_ids: [...unknown, ...extra, 'fal-ai/flux/dev'] });
    });

    it('then every known id is priced once and the unknown ones are left out', () => {
      expect(run.code, run.stderr).toBe(0);
      const rows = records(run, 'pricing');
      expect(rows.map((r) => r.endpoint_id)).toEqual([...usedEndpoints(), ...extra].sort());
      for (const row of rows)
        expect(row).toMatchObject(emu.truth.price(String(row.endpoint_id)) ?? { missing: row.endpoint_id });
    });

    it('then no call asked for more than 50 ids, and the 404s were split down to the unknown ids alone', () => {
      const calls = pricingRequests();
      for (const ids of calls) expect(ids.length).toBeLessThanOrEqual(50);
      expect(calls[0]).toHaveLength(50);
      const statuses = emu.requests.filter((r) => r.path === '/v1/models/pricing').map((r) => r.status);
      expect(statuses.filter((s) => s === 404).length).toBeGreaterThan(0);
      expect(
        calls
          .filter((ids) => ids.length === 1 && unknown.includes(ids[0] ?? ''))
          .map((ids) => ids[0])
          .sort(),
      ).toEqual([...unknown].sort());
      // Binary splitting stays cheap: far fewer calls than one per id.
      expect(calls.length).toBeLessThan(30);
    });

    it('then a WARN LOG names each unknown id', () => {
      for (const id of unknown) expect(logs(run).some((m) => m.includes(id) && m.includes('404'))).toBe(true);
    });
  });
});
