import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseConfig } from '../config.js';
import { FalClient } from '../http/client.js';
import { silentLogger } from '../log.js';
import type { Window } from '../time.js';
import { orgUsage } from './org_usage.js';
import type { StreamContext, StreamRecord } from './stream.js';

const ORIGIN = 'https://api.fal.ai';
const NOW = Date.UTC(2026, 6, 27, 15, 30);
const WINDOW: Window = { start: Date.UTC(2026, 6, 20), end: Date.UTC(2026, 6, 27) };

const LINE = {
  username: 'acme-ml',
  product: 'model_apis',
  endpoint_id: 'fal-ai/flux/dev',
  unit: 'image',
  quantity: 120,
  unit_price: 0.025,
  cost: 3.0,
  currency: 'USD',
  auth_method_structured: { detail: 'my-key (owner: alice)', api_key_id: 'kid-7f3a' },
};

let mockAgent: MockAgent;
let paths: string[];

function context(): StreamContext {
  const config = parseConfig({ api_key: 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f', start_date: '2026-07-01' }, NOW);
  const client = new FalClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, dispatcher: mockAgent, sleep: async () => undefined, random: () => 1 });
  return { config, client, log: silentLogger, signal: new AbortController().signal };
}

function page(results: unknown[]): void {
  mockAgent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith('/v1/organization/usage?'), method: 'GET' })
    .reply((opts) => {
      paths.push(opts.path);
      const body = { time_series: [{ bucket: '2026-07-26T00:00:00+00:00', results }], next_cursor: null, has_more: false };
      return { statusCode: 200, data: JSON.stringify(body), responseOptions: { headers: { 'content-type': 'application/json' } } };
    });
}

async function readWindow(): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for await (const batch of orgUsage.readWindow(context(), WINDOW)) out.push(...batch);
  return out;
}

beforeEach(() => {
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
  paths = [];
});

afterEach(async () => {
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

describe('org_usage.readWindow', () => {
  it('given a window when read then the request pins the UTC grain and expands time_series and auth_method_structured', async () => {
    page([]);

    await readWindow();

    expect(Object.fromEntries(new URL(paths[0] ?? '', ORIGIN).searchParams)).toMatchObject({
      timeframe: 'day',
      bound_to_timeframe: 'false',
      timezone: 'UTC',
      expand: 'time_series,auth_method_structured',
      limit: '100',
    });
  });

  it('given an org line with only cost when read then fal cost stays cost, with its exact nano value, flat auth columns and a golden id', async () => {
    page([LINE]);

    expect(await readWindow()).toEqual([
      {
        username: 'acme-ml',
        product: 'model_apis',
        endpoint_id: 'fal-ai/flux/dev',
        unit: 'image',
        quantity: 120,
        unit_price: 0.025,
        cost: 3,
        // Golden: digest of [timeframe, bucket, username, product, endpoint_id, unit, unit_price, api_key_id, login, null].
        id: '927197eeb037372bda4178951ccf384f',
        bucket: '2026-07-26T00:00:00Z',
        timeframe: 'day',
        cost_nano_usd: 3_000_000_000,
        currency: 'USD',
        auth_method: 'my-key (owner: alice)',
        api_key_id: 'kid-7f3a',
        login_username: null,
      },
    ]);
  });

  it('given lines differing in one grain part when read then every id differs, and a renamed key label keeps its id', async () => {
    const variants: Record<string, unknown> = {
      base: LINE,
      team: { ...LINE, username: 'acme-infra' },
      product: { ...LINE, product: 'serverless' },
      endpoint: { ...LINE, endpoint_id: 'fal-ai/veo3' },
      unit: { ...LINE, unit: 'megapixel' },
      price: { ...LINE, unit_price: 0.03 },
      key: { ...LINE, auth_method_structured: { detail: 'other', api_key_id: 'kid-0000' } },
      user: { ...LINE, auth_method_structured: { detail: 'alice <alice@example.com>', login_username: 'alice' } },
      none: { ...LINE, auth_method_structured: { detail: 'None' } },
    };
    // A later read of the same bucket with the key renamed (one window may not hold two lines of one grain).
    const renamed = { ...LINE, cost: 4, auth_method_structured: { detail: 'renamed (owner: alice)', api_key_id: 'kid-7f3a' } };
    page(Object.values(variants));
    page([renamed]);

    const rows = await readWindow();
    const again = await readWindow();

    const ids = new Map(Object.keys(variants).map((name, i) => [name, rows[i]?.id]));
    expect(again[0]?.id).toBe(ids.get('base'));
    const distinct = Object.keys(variants).map((n) => ids.get(n));
    expect(new Set(distinct).size).toBe(distinct.length);
  });
});
