/**
 * Tests of the emulator's serverless, organization and pricing endpoints over real HTTP: who may call them, their
 * limits and errors, pagination, and exact money that agrees across endpoints and with the truth helpers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, API_KEY, NOFOCUS_ADMIN_KEY, ORG_ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { pricedOnlyId } from '../../source-fal/emulator/pricing.js';
import { type Emulator, startEmulator } from '../../source-fal/emulator/server.js';

const NOW = '2026-07-26T15:30:00Z';
const DAY = 86_400_000;
const nowMs = Date.parse(NOW);

type Query = Record<string, string>;
interface Res {
  status: number;
  json: Record<string, unknown>;
}
interface Page {
  next_cursor: string | null;
  has_more: boolean;
  time_series?: { bucket: string; results: Record<string, unknown>[] }[];
  summary?: Record<string, unknown>[];
  billing_events?: Record<string, unknown>[];
}

async function get(emu: Emulator, path: string, query: Query = {}, key: string = ADMIN_KEY): Promise<Res> {
  const u = new URL(emu.url + path);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  const r = await fetch(u, { headers: { authorization: `Key ${key}` } });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function allPages(emu: Emulator, path: string, query: Query, key: string): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const r = await get(emu, path, cursor === null ? query : { ...query, cursor }, key);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const page = r.json as unknown as Page;
    expect(page.has_more).toBe(page.next_cursor !== null);
    pages.push(page);
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  return pages;
}

/** Exact nano-USD of a USD JSON number (the emulator sends nano / 1e9). */
const nano = (usd: unknown): bigint => {
  const [int, frac = ''] = Number(usd).toFixed(9).split('.');
  return BigInt(int as string) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
};

function byDay(
  pages: Page[],
  costField: string,
  where: (line: Record<string, unknown>) => boolean = () => true,
): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const p of pages) {
    for (const b of p.time_series ?? []) {
      for (const l of b.results)
        if (where(l)) out.set(b.bucket.slice(0, 10), (out.get(b.bucket.slice(0, 10)) ?? 0n) + nano(l[costField]));
    }
  }
  return out;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const SERIES = { timeframe: 'day', bound_to_timeframe: 'false', timezone: 'UTC' };

describe('given the fal emulator with 30 days of history', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: NOW, seed: 1, historyDays: 30 });
  });
  afterAll(async () => {
    await emu.close();
  });

  describe('when the new endpoints are called with keys of the wrong kind', () => {
    it('then an API-scope key answers 403 on serverless usage and on every organization endpoint', async () => {
      for (const path of [
        '/serverless/usage',
        '/organization/teams',
        '/organization/usage',
        '/organization/billing-events',
      ]) {
        const r = await get(emu, path, {}, API_KEY);
        expect(r.status, path).toBe(403);
        expect((r.json.error as { type: string }).type).toBe('authorization_error');
      }
    });

    it('then an ADMIN key of a team that is not the organization root, or of a personal account, answers 403 on organization endpoints', async () => {
      for (const key of [ADMIN_KEY, NOFOCUS_ADMIN_KEY]) {
        for (const path of ['/organization/teams', '/organization/usage', '/organization/billing-events']) {
          const r = await get(emu, path, {}, key);
          expect(r.status, path).toBe(403);
          expect((r.json.error as { message: string }).message).toContain('root team');
        }
      }
    });

    it('then pricing, an API-scope endpoint, answers both an API key and an ADMIN key', async () => {
      for (const key of [API_KEY, ADMIN_KEY])
        expect((await get(emu, '/models/pricing', { endpoint_id: 'fal-ai/flux/dev' }, key)).status).toBe(200);
    });
  });

  describe('when serverless usage is read over 20 days', () => {
    const query = { ...SERIES, start: iso(nowMs - 20 * DAY).slice(0, 10), end: NOW, expand: 'time_series' };

    it('then every UTC day equals the truth to the nano-dollar, with unattributed rows and surge rows', async () => {
      const pages = await allPages(emu, '/serverless/usage', { ...query, limit: '100' }, ADMIN_KEY);
      const truth = emu.truth.serverlessNanoByDay('acme-ml', new Date(query.start), new Date(NOW));
      expect([...byDay(pages, 'cost_total')].sort()).toEqual([...truth].sort());
      const lines = pages.flatMap((p) => p.time_series ?? []).flatMap((b) => b.results);
      expect(lines.some((l) => l.app === null && l.environment === null)).toBe(true);
      expect(lines.some((l) => l.is_surge === true)).toBe(true);
      for (const l of lines) {
        expect(Object.keys(l)).toEqual([
          'app',
          'environment',
          'machine_type',
          'unit',
          'quantity',
          'unit_price',
          'percent_discount',
          'cost_subtotal',
          'cost_discount',
          'cost_total',
          'cost',
          'currency',
          'is_surge',
        ]);
        expect(nano(l.cost_subtotal) - nano(l.cost_discount)).toBe(nano(l.cost_total));
      }
    });

    it('then limit counts line items, so a bucket spans pages and merges back whole', async () => {
      const small = await allPages(emu, '/serverless/usage', { ...query, limit: '7' }, ADMIN_KEY);
      const big = await allPages(emu, '/serverless/usage', { ...query, limit: '100' }, ADMIN_KEY);
      for (const p of small.slice(0, -1)) expect(p.time_series?.flatMap((b) => b.results)).toHaveLength(7);
      expect(byDay(small, 'cost_total')).toEqual(byDay(big, 'cost_total'));
      expect((await get(emu, '/serverless/usage', { ...query, limit: '101' })).status).toBe(400);
    });

    it('then the app filter matches exact names, search matches substrings, and the summary sums the series', async () => {
      const pages = await allPages(
        emu,
        '/serverless/usage',
        { ...query, limit: '100', app: 'img-pipeline-prod' },
        ADMIN_KEY,
      );
      const apps = new Set(pages.flatMap((p) => p.time_series ?? []).flatMap((b) => b.results.map((l) => l.app)));
      expect(apps).toEqual(new Set(['img-pipeline-prod']));
      const searched = await allPages(
        emu,
        '/serverless/usage',
        { ...query, limit: '100', search: 'PIPELINE' },
        ADMIN_KEY,
      );
      expect(new Set(searched.flatMap((p) => p.time_series ?? []).flatMap((b) => b.results.map((l) => l.app)))).toEqual(
        new Set(['img-pipeline-prod', 'img-pipeline-dev']),
      );
      const withSummary = (await get(emu, '/serverless/usage', { ...query, limit: '100', expand: 'summary' }))
        .json as unknown as Page;
      const summaryTotal = (withSummary.summary ?? []).reduce((a, l) => a + nano(l.cost_total), 0n);
      expect(summaryTotal).toBe(
        [...emu.truth.serverlessNanoByDay('acme-ml', new Date(query.start), new Date(NOW)).values()].reduce(
          (a, b) => a + b,
          0n,
        ),
      );
    });

    it('then a non-UTC timezone or an expand without time_series or summary answers 400', async () => {
      expect((await get(emu, '/serverless/usage', { ...query, timezone: 'Europe/Paris' })).status).toBe(400);
      expect((await get(emu, '/serverless/usage', { ...query, expand: 'auth_method' })).status).toBe(400);
    });
  });

  describe('when the organization root reads its organization', () => {
    const start = iso(nowMs - 10 * DAY).slice(0, 10);
    const query = { ...SERIES, start, end: NOW, expand: 'time_series,auth_method_structured', limit: '100' };

    it('then teams lists the three teams with the root flagged', async () => {
      const r = await get(emu, '/organization/teams', {}, ORG_ADMIN_KEY);
      expect(r.status).toBe(200);
      expect(r.json.teams).toEqual(emu.truth.teams('acme'));
      expect(
        (r.json.teams as { username: string; is_org_root: boolean }[]).map((t) => [t.username, t.is_org_root]),
      ).toEqual([
        ['acme', true],
        ['acme-ml', false],
        ['acme-infra', false],
      ]);
    });

    it("then org usage per team and product equals the truth, and acme-ml's model_apis equals acme-ml's own /models/usage per day", async () => {
      const pages = await allPages(emu, '/organization/usage', query, ORG_ADMIN_KEY);
      for (const team of ['acme', 'acme-ml', 'acme-infra']) {
        for (const product of ['model_apis', 'serverless', 'compute'] as const) {
          const got = byDay(pages, 'cost', (l) => l.username === team && l.product === product);
          expect([...got].sort(), `${team} ${product}`).toEqual(
            [...emu.truth.orgUsageNanoByDay(team, product, new Date(start), new Date(NOW))].sort(),
          );
        }
      }
      const own = await allPages(emu, '/models/usage', { ...query, expand: 'time_series' }, ADMIN_KEY);
      expect(byDay(pages, 'cost', (l) => l.username === 'acme-ml' && l.product === 'model_apis')).toEqual(
        byDay(own, 'cost_total'),
      );
      const ownServerless = await allPages(emu, '/serverless/usage', { ...query, expand: 'time_series' }, ADMIN_KEY);
      expect(byDay(pages, 'cost', (l) => l.username === 'acme-ml' && l.product === 'serverless')).toEqual(
        byDay(ownServerless, 'cost_total'),
      );
      // fal's current shape: the discount fields on every line, cost = cost_total, subtotal − discount = total.
      const lines = pages.flatMap((p) => p.time_series ?? []).flatMap((b) => b.results);
      for (const l of lines) {
        expect(l).toEqual(
          expect.objectContaining({
            percent_discount: expect.any(Number),
            cost_subtotal: expect.any(Number),
            cost_discount: expect.any(Number),
          }),
        );
        expect(l.cost_total).toBe(l.cost);
        expect(Math.round(Number(l.cost_subtotal) * 1e9) - Math.round(Number(l.cost_discount) * 1e9)).toBe(
          Math.round(Number(l.cost_total) * 1e9),
        );
      }
      expect(lines.some((l) => Number(l.percent_discount) > 0)).toBe(true);
    });

    it('then team_username and product filter the lines, an unknown team is a 400, and api_key_id leaves only model lines of that key', async () => {
      const pages = await allPages(
        emu,
        '/organization/usage',
        { ...query, team_username: 'acme-infra', product: 'compute,serverless' },
        ORG_ADMIN_KEY,
      );
      const lines = pages.flatMap((p) => p.time_series ?? []).flatMap((b) => b.results);
      expect(new Set(lines.map((l) => `${String(l.username)} ${String(l.product)}`))).toEqual(
        new Set(['acme-infra compute', 'acme-infra serverless']),
      );
      expect((await get(emu, '/organization/usage', { ...query, team_username: 'globex' }, ORG_ADMIN_KEY)).status).toBe(
        400,
      );
      const keyId = API_KEY.split(':')[0] as string;
      const byKey = (await allPages(emu, '/organization/usage', { ...query, api_key_id: keyId }, ORG_ADMIN_KEY))
        .flatMap((p) => p.time_series ?? [])
        .flatMap((b) => b.results);
      expect(byKey.length).toBeGreaterThan(0);
      for (const l of byKey)
        expect(l).toMatchObject({
          username: 'acme-ml',
          product: 'model_apis',
          auth_method_structured: { api_key_id: keyId },
        });
    });

    it('then org billing events page 100 at a time through the union of the teams’ events, each with its username', async () => {
      const q = { start: iso(nowMs - 2 * DAY), end: NOW, expand: 'auth_method_structured' };
      const pages = await allPages(emu, '/organization/billing-events', q, ORG_ADMIN_KEY);
      for (const p of pages.slice(0, -1)) expect(p.billing_events).toHaveLength(100);
      const rows = pages.flatMap((p) => p.billing_events ?? []);
      const truth = emu.truth.orgEvents('acme', new Date(q.start), new Date(NOW));
      expect(rows.map((r) => [r.request_id, r.username, nano(r.cost_total)])).toEqual(
        truth.map((e) => [e.request_id, e.username, BigInt(e.cost_total_nano)]),
      );
      for (const r of rows) expect(r.cost_estimate_nano_usd).toBe(Number(nano(r.cost_total)));
      const mlOnly = (
        await allPages(emu, '/organization/billing-events', { ...q, team_username: 'acme-ml' }, ORG_ADMIN_KEY)
      ).flatMap((p) => p.billing_events ?? []);
      expect(mlOnly.map((r) => r.request_id)).toEqual(
        [...emu.truth.events('acme-ml', new Date(q.start), new Date(NOW))].map((e) => e.request_id),
      );
    });

    it('then org billing events refuse more than 100 rows a page and more than 90 days', async () => {
      expect((await get(emu, '/organization/billing-events', { limit: '101' }, ORG_ADMIN_KEY)).status).toBe(400);
      expect(
        (await get(emu, '/organization/billing-events', { start: iso(nowMs - 91 * DAY), end: NOW }, ORG_ADMIN_KEY))
          .status,
      ).toBe(400);
      expect(
        (
          await get(
            emu,
            '/organization/billing-events',
            { start: iso(nowMs - 90 * DAY), end: NOW, limit: '1' },
            ORG_ADMIN_KEY,
          )
        ).status,
      ).toBe(200);
    });
  });

  describe('when prices are asked for', () => {
    it('then known ids get the current list price in request order, duplicates once, comma lists and repeated keys alike', async () => {
      const r = await get(emu, '/models/pricing', { endpoint_id: 'fal-ai/veo3,fal-ai/flux/dev,fal-ai/veo3' }, API_KEY);
      expect(r.json).toEqual({
        prices: [emu.truth.price('fal-ai/veo3'), emu.truth.price('fal-ai/flux/dev')],
        next_cursor: null,
        has_more: false,
      });
      const u = new URL(`${emu.url}/models/pricing`);
      u.searchParams.append('endpoint_id', 'fal-ai/flux/dev');
      u.searchParams.append('endpoint_id', pricedOnlyId(7));
      const repeated = (await (await fetch(u, { headers: { authorization: `Key ${API_KEY}` } })).json()) as {
        prices: { endpoint_id: string }[];
      };
      expect(repeated.prices.map((p) => p.endpoint_id)).toEqual(['fal-ai/flux/dev', pricedOnlyId(7)]);
    });

    it('then no id or more than 50 ids answer 400, and any unknown id makes the call 404 naming it', async () => {
      expect((await get(emu, '/models/pricing', {}, API_KEY)).status).toBe(400);
      const fiftyOne = Array.from({ length: 51 }, (_, i) => pricedOnlyId(i + 1)).join(',');
      expect((await get(emu, '/models/pricing', { endpoint_id: fiftyOne }, API_KEY)).status).toBe(400);
      const fifty = Array.from({ length: 50 }, (_, i) => pricedOnlyId(i + 1)).join(',');
      expect((await get(emu, '/models/pricing', { endpoint_id: fifty }, API_KEY)).status).toBe(200);
      const r = await get(emu, '/models/pricing', { endpoint_id: 'fal-ai/flux/dev,nope/x' }, API_KEY);
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ type: 'not_found', message: 'Endpoint not found: nope/x' });
    });
  });
});
