/**
 * Tests of the fal emulator itself, over real HTTP: auth, pagination, windows, late data, faults and
 * exact money against the truth helpers.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, API_KEY, NOFOCUS_ADMIN_KEY, ORG_ADMIN_KEY, UNKNOWN_KEY } from '../../source-fal/emulator/keys.js';
import { type BillingEventTruth, type Emulator, startEmulator } from '../../source-fal/emulator/server.js';

const NOW = '2026-07-26T15:30:00Z';
const DAY = 86_400_000;
const nowMs = Date.parse(NOW);

type Query = Record<string, string | number | readonly string[]>;

interface Res {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  json: unknown;
}

function urlOf(emu: Emulator, path: string, query: Query = {}): string {
  const u = new URL(emu.url + path);
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const x of v as readonly string[]) u.searchParams.append(k, x);
    else u.searchParams.set(k, String(v));
  }
  return u.toString();
}

async function get(
  emu: Emulator,
  path: string,
  query: Query = {},
  key: string | null = ADMIN_KEY,
  headers: Record<string, string> = {},
): Promise<Res> {
  const h: Record<string, string> = { ...headers };
  if (key !== null) h.authorization = `Key ${key}`;
  const r = await fetch(urlOf(emu, path, query), { headers: h });
  const text = await r.text();
  const contentType = r.headers.get('content-type') ?? '';
  return {
    status: r.status,
    contentType,
    headers: r.headers,
    text,
    json: contentType.startsWith('application/json') ? (JSON.parse(text) as unknown) : null,
  };
}

interface ErrorBody {
  error: { type: string; message: string; docs_url: string; request_id: string };
}
interface BillingEvent {
  request_id: string;
  endpoint_id: string;
  timestamp: string;
  output_units: number;
  unit_price: number;
  percent_discount: number | null;
  cost_subtotal: number;
  cost_discount: number;
  cost_total: number;
  cost_estimate_nano_usd: number;
  unit?: string;
  quantity?: number;
  tags?: Record<string, string>;
  auth_method?: string;
  auth_method_structured?: { detail: string; api_key_id?: string; login_username?: string };
}
interface Page {
  next_cursor: string | null;
  has_more: boolean;
}
interface EventsPage extends Page {
  billing_events: BillingEvent[];
}
interface UsageLine {
  endpoint_id: string;
  unit: string;
  quantity: number;
  unit_price: number;
  percent_discount: number | null;
  cost_subtotal: number;
  cost_discount: number;
  cost_total: number;
  cost: number;
  currency: string;
  auth_method?: string;
  auth_method_structured?: { detail: string; api_key_id?: string; login_username?: string };
}
interface UsagePage extends Page {
  time_series?: { bucket: string; results: UsageLine[] }[];
  summary?: UsageLine[];
}

/** Exact nano-USD of a USD JSON number (the emulator sends nano / 1e9). */
function nano(usd: number): bigint {
  const [int, frac = ''] = usd.toFixed(9).split('.');
  return BigInt(int as string) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
}

function asApi(e: BillingEventTruth): BillingEvent {
  return {
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
    // fal's current shape: unit, quantity and the request's cost-allocation tags.
    unit: e.unit,
    quantity: e.output_units,
    tags: e.tags,
    auth_method_structured: e.auth_method_structured,
  };
}

async function allPages<T extends Page>(
  emu: Emulator,
  path: string,
  query: Query,
): Promise<{ pages: T[]; cursors: (string | null)[] }> {
  const pages: T[] = [];
  const cursors: (string | null)[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const r = await get(emu, path, cursor === null ? query : { ...query, cursor });
    expect(r.status, r.text).toBe(200);
    const page = r.json as T;
    pages.push(page);
    cursors.push(page.next_cursor);
    expect(page.has_more).toBe(page.next_cursor !== null);
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  return { pages, cursors };
}

function dayTotals(pages: UsagePage[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const p of pages) {
    for (const b of p.time_series ?? []) {
      const day = b.bucket.slice(0, 10);
      for (const l of b.results) out.set(day, (out.get(day) ?? 0n) + nano(l.cost_total));
    }
  }
  return out;
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('given the fal emulator with 40 days of seeded history', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: NOW, seed: 1, historyDays: 40 });
  });
  afterAll(async () => {
    await emu.close();
  });
  afterEach(() => {
    emu.faults.clear();
    emu.setNow(NOW);
  });

  describe('when a request is not properly authenticated', () => {
    it('then a missing header, another scheme or an unknown key answer 401 with the fal error envelope', async () => {
      for (const [key, headers] of [
        [null, {}],
        [null, { authorization: `Bearer ${ADMIN_KEY}` }],
        [UNKNOWN_KEY, {}],
      ] as const) {
        const r = await get(emu, '/models/usage', {}, key, headers);
        expect(r.status).toBe(401);
        expect(r.contentType).toMatch(/^application\/json/);
        const body = r.json as ErrorBody;
        expect(Object.keys(body)).toEqual(['error']);
        expect(Object.keys(body.error)).toEqual(['type', 'message', 'docs_url', 'request_id']);
        expect(body.error.type).toBe('authorization_error');
      }
    });

    it('then an API-scope key on every ADMIN endpoint answers 403 mentioning an Admin API key', async () => {
      for (const path of ['/models/usage', '/models/billing-events', '/account/billing', '/keys']) {
        const r = await get(emu, path, {}, API_KEY);
        expect(r.status, path).toBe(403);
        const body = r.json as ErrorBody;
        expect(body.error.type).toBe('authorization_error');
        expect(body.error.message).toContain('Admin API key');
      }
    });

    it('then an unknown path answers 404 not_found', async () => {
      const r = await get(emu, '/models/nope');
      expect(r.status).toBe(404);
      expect((r.json as ErrorBody).error.type).toBe('not_found');
    });
  });

  describe('when billing events are read page by page', () => {
    const start = iso(nowMs - 3 * DAY);
    const end = NOW;

    it('then the base64 page cursors walk every visible event exactly as the truth has it', async () => {
      const q = { start, end, limit: 37, expand: 'auth_method_structured' };
      const { pages, cursors } = await allPages<EventsPage>(emu, '/models/billing-events', q);
      expect(cursors[0]).toBe('Mg==');
      expect(cursors[1]).toBe(Buffer.from('3').toString('base64'));
      expect(cursors.at(-1)).toBeNull();
      const rows = pages.flatMap((p) => p.billing_events);
      for (const p of pages.slice(0, -1)) expect(p.billing_events).toHaveLength(37);
      const truth = [...emu.truth.events('acme-ml', new Date(start), new Date(end))];
      expect(truth.length).toBeGreaterThan(200);
      expect(rows).toEqual(truth.map(asApi));
      expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
    });

    it('then a page requested out of order holds the same rows as the sequential walk', async () => {
      const q = { start, end, limit: 50, endpoint_id: 'fal-ai/flux/dev,fal-ai/whisper' };
      const truth = [...emu.truth.events('acme-ml', new Date(start), new Date(end))].filter(
        (e) => e.endpoint_id === 'fal-ai/flux/dev' || e.endpoint_id === 'fal-ai/whisper',
      );
      expect(truth.length).toBeGreaterThan(150);
      for (const page of [4, 2, 1, 4]) {
        const r = (
          await get(emu, '/models/billing-events', { ...q, cursor: Buffer.from(String(page)).toString('base64') })
        ).json as EventsPage;
        expect(r.billing_events.map((e) => e.request_id)).toEqual(
          truth.slice((page - 1) * 50, page * 50).map((e) => e.request_id),
        );
        expect(r.has_more).toBe(page * 50 < truth.length);
      }
      const beyond = (await get(emu, '/models/billing-events', { ...q, cursor: Buffer.from('999').toString('base64') }))
        .json as EventsPage;
      expect(beyond).toEqual({ billing_events: [], next_cursor: null, has_more: false });
    });

    it('then the body is canonical JSON and every cost adds up in exact nano-dollars', async () => {
      const r = await get(emu, '/models/billing-events', {
        start,
        end,
        limit: 10_000,
        expand: 'auth_method,auth_method_structured',
      });
      expect(JSON.stringify(JSON.parse(r.text))).toBe(r.text);
      const rows = (r.json as EventsPage).billing_events;
      let discounted = 0;
      for (const e of rows) {
        expect(e.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        expect(nano(e.cost_total)).toBe(BigInt(e.cost_estimate_nano_usd));
        expect(nano(e.cost_subtotal) - nano(e.cost_discount)).toBe(nano(e.cost_total));
        expect(nano(e.unit_price) * BigInt(e.output_units * 2)).toBe(nano(e.cost_subtotal) * 2n);
        if (e.percent_discount !== null) {
          discounted++;
          expect(nano(e.cost_discount)).toBe((nano(e.cost_subtotal) * BigInt(e.percent_discount)) / 100n);
        }
        expect(e.auth_method).toBe(e.auth_method_structured?.detail);
      }
      expect(discounted).toBeGreaterThan(0);
      const sorted = [...rows].sort((a, b) =>
        a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.request_id < b.request_id ? -1 : 1,
      );
      expect(rows.map((x) => x.request_id)).toEqual(sorted.map((x) => x.request_id));
    });

    it('then the default window is the last 24 hours, end exclusive', async () => {
      const r = await get(emu, '/models/billing-events', { limit: 10_000 });
      const rows = (r.json as EventsPage).billing_events;
      const truth = [...emu.truth.events('acme-ml', new Date(nowMs - DAY), new Date(nowMs))];
      expect(rows.map((x) => x.request_id)).toEqual(truth.map((x) => x.request_id));
      expect(rows[0]).not.toHaveProperty('auth_method_structured');
    });

    it('then multi-value filters accept comma-separated and repeated keys alike', async () => {
      const ids = ['fal-ai/veo3', 'fal-ai/whisper'];
      const a = await get(emu, '/models/billing-events', { start, end, limit: 10_000, endpoint_id: ids.join(',') });
      const b = await get(emu, '/models/billing-events', { start, end, limit: 10_000, endpoint_id: ids });
      expect(a.text).toBe(b.text);
      const rows = (a.json as EventsPage).billing_events;
      expect(rows.length).toBeGreaterThan(0);
      expect(new Set(rows.map((r) => r.endpoint_id))).toEqual(new Set(ids));

      const login = await get(emu, '/models/billing-events', {
        start,
        end,
        limit: 10_000,
        login_username: 'alice',
        expand: 'auth_method_structured',
      });
      const lr = (login.json as EventsPage).billing_events;
      expect(lr.length).toBeGreaterThan(0);
      for (const e of lr) expect(e.auth_method_structured).toEqual({ detail: 'User token', login_username: 'alice' });

      const keyId = API_KEY.split(':')[0] as string;
      const byKey = await get(emu, '/models/billing-events', {
        start,
        end,
        limit: 10_000,
        api_key_id: keyId,
        expand: 'auth_method_structured',
      });
      const kr = (byKey.json as EventsPage).billing_events;
      expect(kr.length).toBeGreaterThan(0);
      for (const e of kr) expect(e.auth_method_structured?.api_key_id).toBe(keyId);

      const picked = rows.slice(0, 3).map((r) => r.request_id);
      const byId = await get(emu, '/models/billing-events', { start, end, request_id: picked.join(',') });
      expect((byId.json as EventsPage).billing_events.map((r) => r.request_id)).toEqual(picked);
    });

    it('then a limit over 10000, a zero limit or a bad cursor answer 400 validation_error', async () => {
      const over = await get(emu, '/models/billing-events', { limit: 10_001 });
      expect(over.status).toBe(400);
      expect((over.json as ErrorBody).error.type).toBe('validation_error');
      expect((over.json as ErrorBody).error.message).toContain('10000');
      expect((await get(emu, '/models/billing-events', { limit: 0 })).status).toBe(400);
      expect((await get(emu, '/models/billing-events', { cursor: 'not a cursor' })).status).toBe(400);
      expect((await get(emu, '/models/billing-events', { cursor: Buffer.from('abc').toString('base64') })).status).toBe(
        400,
      );
    });

    it('then a range over 90 days is refused and exactly 90 days is accepted', async () => {
      const tooLong = await get(emu, '/models/billing-events', { start: iso(nowMs - 91 * DAY), end: NOW });
      expect(tooLong.status).toBe(400);
      expect((tooLong.json as ErrorBody).error.message).toBe('Date range cannot exceed 90 days');
      const ok = await get(emu, '/models/billing-events', { start: iso(nowMs - 90 * DAY), end: NOW, limit: 1 });
      expect(ok.status).toBe(200);
    });

    it('then start at or after end answers 400', async () => {
      const r = await get(emu, '/models/billing-events', { start: NOW, end: NOW });
      expect(r.status).toBe(400);
      expect((r.json as ErrorBody).error.type).toBe('validation_error');
      expect((await get(emu, '/models/billing-events', { start: '2026-07-26', end: '2026-07-25' })).status).toBe(400);
      expect((await get(emu, '/models/billing-events', { start: '2026-02-30' })).status).toBe(400);
    });

    it('then date-only and offset date-times select the same instants', async () => {
      const a = await get(emu, '/models/billing-events', { start: '2026-07-24', end: '2026-07-25', limit: 10_000 });
      const b = await get(emu, '/models/billing-events', {
        start: '2026-07-24T02:00:00+02:00',
        end: '2026-07-24T19:00:00-05:00',
        limit: 10_000,
      });
      expect(a.status).toBe(200);
      expect(a.text).toBe(b.text);
    });
  });

  describe('when usage is read at day granularity over 30 days', () => {
    const start = '2026-06-26T00:00:00Z';
    const q = {
      start,
      end: NOW,
      timeframe: 'day',
      bound_to_timeframe: 'false',
      timezone: 'UTC',
      expand: 'time_series,auth_method_structured',
    };

    it('then every UTC day equals the truth to the nano-dollar', async () => {
      const { pages } = await allPages<UsagePage>(emu, '/models/usage', { ...q, limit: 100 });
      expect(pages.length).toBeGreaterThan(1);
      const truth = emu.truth.usageNanoByDay('acme-ml', new Date(start), new Date(NOW));
      expect(truth.size).toBe(31);
      expect(dayTotals(pages)).toEqual(truth);
      for (const p of pages) {
        for (const b of p.time_series ?? []) {
          expect(b.bucket).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\+00:00$/);
          for (const l of b.results) {
            expect(l.cost).toBe(l.cost_total);
            expect(l.currency).toBe('USD');
            expect(nano(l.cost_subtotal) - nano(l.cost_discount)).toBe(nano(l.cost_total));
            expect(l.auth_method_structured?.detail).toBeTruthy();
          }
        }
      }
    });

    it('then limit counts line items, so one bucket spans two pages and merges back whole', async () => {
      const whole = await allPages<UsagePage>(emu, '/models/usage', { ...q, limit: 100 });
      const small = await allPages<UsagePage>(emu, '/models/usage', { ...q, limit: 7 });
      const flatten = (pages: UsagePage[]): [string, UsageLine][] =>
        pages.flatMap((p) =>
          (p.time_series ?? []).flatMap((b) => b.results.map((l): [string, UsageLine] => [b.bucket, l])),
        );
      for (const p of small.pages.slice(0, -1))
        expect((p.time_series ?? []).reduce((n, b) => n + b.results.length, 0)).toBe(7);
      expect(flatten(small.pages)).toEqual(flatten(whole.pages));
      const split = small.pages.some((p, i) => {
        const next = small.pages[i + 1];
        return next !== undefined && p.time_series?.at(-1)?.bucket === next.time_series?.[0]?.bucket;
      });
      expect(split).toBe(true);
    });

    it('then without auth expansion the auth methods merge into fewer lines with the same totals', async () => {
      const { pages } = await allPages<UsagePage>(emu, '/models/usage', { ...q, expand: 'time_series', limit: 100 });
      expect(dayTotals(pages)).toEqual(emu.truth.usageNanoByDay('acme-ml', new Date(start), new Date(NOW)));
      const day = pages[0]?.time_series?.[0];
      expect(day?.results[0]).not.toHaveProperty('auth_method_structured');
      const keys = (day?.results ?? []).map((l) => `${l.endpoint_id}|${l.unit_price}|${l.percent_discount}`);
      expect(new Set(keys).size).toBe(keys.length);
    });

    it('then the summary (first page only) equals the sum of the time series', async () => {
      const { pages } = await allPages<UsagePage>(emu, '/models/usage', {
        ...q,
        expand: 'time_series,summary',
        limit: 100,
      });
      expect(pages[0]?.summary).toBeDefined();
      for (const p of pages.slice(1)) expect(p.summary).toBeUndefined();
      const total = (pages[0]?.summary ?? []).reduce((s, l) => s + nano(l.cost_total), 0n);
      expect(total).toBe(emu.truth.totalNano('acme-ml', new Date(start), new Date(NOW)));
      const only = await allPages<UsagePage>(emu, '/models/usage', { ...q, expand: 'summary', limit: 5 });
      expect(only.pages.length).toBeGreaterThan(1);
      expect(only.pages.flatMap((p) => p.summary ?? [])).toEqual(pages[0]?.summary);
    });
  });

  describe('when a usage window starts at noon', () => {
    const q = { start: '2026-07-20T12:00:00Z', end: '2026-07-21T00:00:00Z', timeframe: 'day', limit: 100 };
    const total = (p: UsagePage): bigint =>
      (p.time_series ?? []).flatMap((b) => b.results).reduce((s, l) => s + nano(l.cost_total), 0n);

    it('then bound_to_timeframe=true snaps to the whole day and false keeps only the afternoon, under the same label', async () => {
      const bound = (await get(emu, '/models/usage', { ...q, bound_to_timeframe: 'true' })).json as UsagePage;
      const exact = (await get(emu, '/models/usage', { ...q, bound_to_timeframe: 'false' })).json as UsagePage;
      expect(bound.time_series?.map((b) => b.bucket)).toEqual(['2026-07-20T00:00:00+00:00']);
      expect(exact.time_series?.map((b) => b.bucket)).toEqual(['2026-07-20T00:00:00+00:00']);
      expect(total(bound)).toBe(
        emu.truth.totalNano('acme-ml', new Date('2026-07-20T00:00:00Z'), new Date('2026-07-21T00:00:00Z')),
      );
      expect(total(exact)).toBe(
        emu.truth.totalNano('acme-ml', new Date('2026-07-20T12:00:00Z'), new Date('2026-07-21T00:00:00Z')),
      );
      expect(total(exact)).toBeLessThan(total(bound));
    });

    it('then without a timeframe a 3-hour window is auto-bucketed by hour', async () => {
      const r = (await get(emu, '/models/usage', { start: '2026-07-20T12:00:00Z', end: '2026-07-20T15:00:00Z' }))
        .json as UsagePage;
      expect(r.time_series?.map((b) => b.bucket)).toEqual([
        '2026-07-20T12:00:00+00:00',
        '2026-07-20T13:00:00+00:00',
        '2026-07-20T14:00:00+00:00',
      ]);
    });
  });

  describe('when usage parameters are invalid', () => {
    it('then a non-UTC timezone, an expand without time_series or summary and a limit over 100 answer 400', async () => {
      const queries: Query[] = [
        { timezone: 'America/New_York' },
        { expand: 'auth_method' },
        { limit: 101 },
        { timeframe: 'year' },
        { bound_to_timeframe: 'yes' },
      ];
      for (const query of queries) {
        const r = await get(emu, '/models/usage', query);
        expect(r.status, JSON.stringify(query)).toBe(400);
        expect((r.json as ErrorBody).error.type).toBe('validation_error');
      }
    });
  });

  describe('when a week spans the price change', () => {
    it('then the same endpoint comes back as separate lines per unit price', async () => {
      const change = emu.truth.priceChangeAt.getTime();
      const r = (
        await get(emu, '/models/usage', {
          start: iso(change - 3 * DAY),
          end: iso(change + 3 * DAY),
          timeframe: 'day',
          endpoint_id: 'fal-ai/veo3',
          limit: 100,
        })
      ).json as UsagePage;
      const prices = new Set((r.time_series ?? []).flatMap((b) => b.results.map((l) => l.unit_price)));
      expect(prices).toEqual(new Set([0.75, 0.4]));
    });
  });

  describe('when the clock moves forward', () => {
    it('then a late event appears in a day that was already read', async () => {
      const late = [
        ...emu.truth.events('acme-ml', new Date(nowMs - 2 * DAY), new Date(nowMs), new Date(nowMs + 3 * DAY)),
      ].find((e) => e.recordedAtMs > nowMs && e.recordedAtMs - e.timestampMs > 3_600_000);
      expect(late).toBeDefined();
      const e = late as BillingEventTruth;
      const dayStart = Math.floor(e.timestampMs / DAY) * DAY;
      const q = { start: iso(dayStart), end: iso(dayStart + DAY), request_id: e.request_id };
      const usageQ = { start: iso(dayStart), end: iso(dayStart + DAY), timeframe: 'day', bound_to_timeframe: 'false' };
      const before = (await get(emu, '/models/billing-events', q)).json as EventsPage;
      expect(before.billing_events).toHaveLength(0);
      const usageBefore = (await get(emu, '/models/usage', usageQ)).json as UsagePage;

      emu.advance(e.recordedAtMs - nowMs);
      const after = (await get(emu, '/models/billing-events', q)).json as EventsPage;
      expect(after.billing_events.map((x) => x.request_id)).toEqual([e.request_id]);
      const usageAfter = (await get(emu, '/models/usage', usageQ)).json as UsagePage;
      const sum = (p: UsagePage): bigint =>
        (p.time_series ?? []).flatMap((b) => b.results).reduce((s, l) => s + nano(l.cost_total), 0n);
      expect(sum(usageAfter) - sum(usageBefore)).toBeGreaterThanOrEqual(BigInt(e.cost_total_nano));
      expect(sum(usageAfter)).toBe(emu.truth.totalNano('acme-ml', new Date(dayStart), new Date(dayStart + DAY)));
    });
  });

  describe('when account endpoints are read', () => {
    it('then /account/billing reports the username and, with expand=credits, a two-decimal balance', async () => {
      const plain = (await get(emu, '/account/billing')).json as Record<string, unknown>;
      expect(plain).toEqual({ username: 'acme-ml' });
      const withCredits = (await get(emu, '/account/billing', { expand: 'credits' })).json as {
        credits: { current_balance: number; currency: string };
      };
      expect(withCredits.credits.currency).toBe('USD');
      expect(withCredits.credits.current_balance).toBe(emu.truth.creditBalance('acme-ml'));
      expect(Math.round(withCredits.credits.current_balance * 100) / 100).toBe(withCredits.credits.current_balance);
      for (const [key, user] of [
        [NOFOCUS_ADMIN_KEY, 'solo-dev'],
        [ORG_ADMIN_KEY, 'acme'],
      ] as const) {
        expect(((await get(emu, '/account/billing', {}, key)).json as { username: string }).username).toBe(user);
      }
    });

    it('then /keys pages through every key id that billing events mention', async () => {
      const { pages } = await allPages<
        Page & {
          keys: { key_id: string; alias: string; scope: string; created_at: string; creator_nickname?: string }[];
        }
      >(emu, '/keys', { limit: 1, expand: 'creator_info' });
      const keys = pages.flatMap((p) => p.keys);
      expect(keys.length).toBe(4);
      expect(keys[0]?.creator_nickname).toBeTruthy();
      const listed = new Set(keys.map((k) => k.key_id));
      const used = new Set(
        [...emu.truth.events('acme-ml', new Date(nowMs - 5 * DAY), new Date(nowMs))].flatMap((e) =>
          e.auth_method_structured.api_key_id ? [e.auth_method_structured.api_key_id] : [],
        ),
      );
      expect(used.size).toBe(3);
      for (const id of used) expect(listed.has(id)).toBe(true);
    });
  });

  describe('when faults are injected', () => {
    it('then a 429 carries the given headers and the rate_limited envelope, once, and is logged', async () => {
      emu.faults.add({ path: '/models/usage', kind: 'status', status: 429, headers: { 'retry-after': '2' } });
      const seen = emu.requests.length;
      const first = await get(emu, '/models/usage');
      expect(first.status).toBe(429);
      expect(first.headers.get('retry-after')).toBe('2');
      expect((first.json as ErrorBody).error.type).toBe('rate_limited');
      expect((await get(emu, '/models/usage')).status).toBe(200);
      expect(emu.requests.slice(seen).map((r) => [r.path, r.status, r.account])).toEqual([
        ['/v1/models/usage', 429, 'acme-ml'],
        ['/v1/models/usage', 200, 'acme-ml'],
      ]);
    });

    it('then after and times select which matching requests fail', async () => {
      emu.faults.add({ path: /billing-events$/, after: 1, times: 2, kind: 'status', status: 500 });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(emu, '/models/billing-events', { limit: 1 })).status);
      expect(statuses).toEqual([200, 500, 500, 200]);
      expect((await get(emu, '/keys')).status).toBe(200);
    });

    it('then a 503 comes with an HTML gateway page', async () => {
      emu.faults.add({ kind: 'status', status: 503 });
      const r = await get(emu, '/keys');
      expect(r.status).toBe(503);
      expect(r.contentType).toMatch(/^text\/html/);
      expect(r.text).toContain('503 Service Unavailable');
    });

    it('then a reset drops the connection without a response', async () => {
      emu.faults.add({ path: '/keys', kind: 'reset' });
      await expect(get(emu, '/keys')).rejects.toThrow();
      expect(emu.requests.at(-1)?.status).toBe(0);
      expect((await get(emu, '/keys')).status).toBe(200);
    });

    it('then a truncated 200 announces the full length but sends half the body', async () => {
      emu.faults.add({ path: '/models/billing-events', kind: 'truncate' });
      await expect(get(emu, '/models/billing-events', { limit: 100 })).rejects.toThrow();
      expect((await get(emu, '/models/billing-events', { limit: 100 })).status).toBe(200);
    });

    it('then latency delays the real response', async () => {
      emu.faults.add({ kind: 'latency', ms: 300 });
      const t0 = Date.now();
      const r = await get(emu, '/account/billing');
      expect(r.status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    });

    it('then a body fault answers 200 with a wrong envelope', async () => {
      emu.faults.add({ path: '/v1/models/usage', kind: 'body', body: '{"data":[]}' });
      const r = await get(emu, '/models/usage');
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ data: [] });
    });

    it('then a transform rewrites the real body (schema drift)', async () => {
      emu.faults.add({
        path: '/models/billing-events',
        kind: 'transform',
        fn: (json) => {
          const page = json as EventsPage;
          return {
            ...page,
            billing_events: page.billing_events.map(({ cost_total: _drop, ...rest }) => ({ ...rest, new_field: 1 })),
          };
        },
      });
      const r = await get(emu, '/models/billing-events', { limit: 3 });
      const rows = (r.json as { billing_events: Record<string, unknown>[] }).billing_events;
      expect(rows).toHaveLength(3);
      for (const row of rows) {
        expect(row).not.toHaveProperty('cost_total');
        expect(row.new_field).toBe(1);
      }
    });
  });

  describe('when the same seed and clock are used twice', () => {
    it('then responses are byte-identical, and another seed gives other data', async () => {
      const twin = await startEmulator({ now: NOW, seed: 1, historyDays: 40 });
      const other = await startEmulator({ now: NOW, seed: 2, historyDays: 40 });
      try {
        for (const [path, q] of [
          ['/models/billing-events', { limit: 500, expand: 'auth_method_structured' }],
          ['/models/usage', { start: '2026-07-01', timeframe: 'day', expand: 'time_series,summary,auth_method' }],
          ['/models/usage', { start: NOW }],
        ] as const) {
          const a = await get(emu, path, q);
          const b = await get(twin, path, q);
          expect(b.text).toBe(a.text);
          expect(b.headers.get('x-fal-request-id')).toBe(a.headers.get('x-fal-request-id'));
        }
        const a = await get(emu, '/models/billing-events', { limit: 50 });
        const c = await get(other, '/models/billing-events', { limit: 50 });
        expect(c.text).not.toBe(a.text);
      } finally {
        await twin.close();
        await other.close();
      }
    });
  });
});

describe('given the built standalone emulator CLI', () => {
  const main = fileURLToPath(new URL('../../dist/source-fal/emulator/main.js', import.meta.url));
  it.skipIf(!existsSync(main))(
    'when started with flags then it prints its URL as one JSON line and serves until SIGTERM',
    async () => {
      const child = spawn(
        process.execPath,
        [main, '--seed', '3', '--now', NOW, '--history-days', '5', '--events-per-day', '50'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      try {
        const line = await new Promise<string>((resolve, reject) => {
          let buf = '';
          child.stdout.on('data', (b: Buffer) => {
            buf += b.toString();
            if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
          });
          child.once('exit', (code) => reject(new Error(`exited ${String(code)}`)));
        });
        const { url } = JSON.parse(line) as { url: string };
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
        const r = await fetch(`${url}/account/billing`, { headers: { authorization: `Key ${ADMIN_KEY}` } });
        expect(await r.json()).toEqual({ username: 'acme-ml' });
      } finally {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    },
  );
});
