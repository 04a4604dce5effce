import { describe, expect, it } from 'vitest';

import { falRequest, usagePage } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import type { Window } from '../time.js';
import { orgUsage } from './org_usage.js';
import type { StreamRecord } from './stream.js';

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

const { context, paths, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

/** Exactly what the stream asks for WINDOW: the UTC day grain, time_series and auth_method_structured, 100 a page. */
const REQUEST = falRequest('/v1/organization/usage')
  .withWindow('2026-07-20T00:00:00Z', '2026-07-27T00:00:00Z')
  .withPinnedTimeframe('day')
  .withExpand('time_series', 'auth_method_structured')
  .withLimit(100);
const BUCKET = '2026-07-26T00:00:00+00:00';

const readWindow = (): Promise<StreamRecord[]> => collect(orgUsage.readWindow(context(), WINDOW));

describe('org_usage.readWindow', () => {
  it('given a window when read then the request pins the UTC grain and expands time_series and auth_method_structured', async () => {
    reply(REQUEST, usagePage());

    await readWindow();

    expect(paths).toHaveLength(1);
  });

  it('given an org line in the older shape (cost only) when read then cost stays cost and is cost_total too, with exact nano values, flat auth columns and a golden id', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, LINE));

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
        percent_discount: null,
        cost_subtotal: null,
        cost_discount: null,
        cost_total: 3,
        cost_total_nano_usd: 3_000_000_000,
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
    const renamed = {
      ...LINE,
      cost: 4,
      auth_method_structured: { detail: 'renamed (owner: alice)', api_key_id: 'kid-7f3a' },
    };
    reply(REQUEST, usagePage().withBucket(BUCKET, ...Object.values(variants)));
    reply(REQUEST, usagePage().withBucket(BUCKET, renamed));

    const rows = await readWindow();
    const again = await readWindow();

    const ids = new Map(Object.keys(variants).map((name, i) => [name, rows[i]?.id]));
    expect(again[0]?.id).toBe(ids.get('base'));
    const distinct = Object.keys(variants).map((n) => ids.get(n));
    expect(new Set(distinct).size).toBe(distinct.length);
  });
});

describe("org_usage.readWindow with fal's current shape (one line per discount rate)", () => {
  const CURRENT = { ...LINE, percent_discount: 0, cost_subtotal: 3.0, cost_discount: 0, cost_total: 3.0 };
  const DISCOUNTED = {
    ...LINE,
    quantity: 80,
    percent_discount: 10,
    cost_subtotal: 2.0,
    cost_discount: 0.2,
    cost_total: 1.8,
    cost: 1.8,
  };

  it('given two lines that differ only by percent_discount when read then both arrive as two rows with distinct ids', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, CURRENT, DISCOUNTED));

    const rows = await readWindow();

    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((r) => r.id)).size).toBe(2);
    expect(
      rows.map((r) => [r.percent_discount, r.cost_subtotal, r.cost_discount, r.cost_total, r.cost_total_nano_usd]),
    ).toEqual([
      [0, 3, 0, 3, 3_000_000_000],
      [10, 2, 0.2, 1.8, 1_800_000_000],
    ]);
  });

  it('given a line without a discount in the current shape when read then its id is the one the older shape gave, so re-read rows update instead of duplicating', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, CURRENT));
    const [current] = await readWindow();
    reply(REQUEST, usagePage().withBucket(BUCKET, LINE));
    const [older] = await readWindow();

    expect(current?.id).toBe(older?.id);
    expect(older).toMatchObject({ percent_discount: null, cost_total: 3, cost_total_nano_usd: 3_000_000_000, cost: 3 });
  });

  it('given a line with cost_total but no cost when read then cost is taken from cost_total', async () => {
    const { cost: _cost, ...noCost } = CURRENT;
    reply(REQUEST, usagePage().withBucket(BUCKET, noCost));

    expect(await readWindow()).toEqual([
      expect.objectContaining({ cost: 3, cost_nano_usd: 3_000_000_000, cost_total: 3 }),
    ]);
  });
});
