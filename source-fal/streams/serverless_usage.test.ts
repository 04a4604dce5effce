import { describe, expect, it } from 'vitest';

import { falRequest, usagePage } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import { serverlessUsage } from './serverless_usage.js';
import type { StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30);
const WINDOW: Window = { start: Date.UTC(2026, 6, 20), end: Date.UTC(2026, 6, 27) };

const LINE = {
  app: 'autohdr-raw-to-jpg-dev',
  environment: 'production',
  machine_type: 'GPU-H100',
  unit: 'second',
  quantity: 831.9,
  unit_price: 0.000525,
  percent_discount: 15,
  cost_subtotal: 0.4367475,
  cost_discount: 0.06551212,
  cost_total: 0.37123538,
  cost: 0.37123538,
  currency: 'USD',
  is_surge: false,
};

const { context, paths, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

/** Exactly what the stream asks for WINDOW: the UTC day grain and time_series only (no auth expansion here). */
const REQUEST = falRequest('/v1/serverless/usage')
  .withWindow('2026-07-20T00:00:00Z', '2026-07-27T00:00:00Z')
  .withPinnedTimeframe('day')
  .withExpand('time_series')
  .withLimit(100);
const BUCKET = '2026-07-26T00:00:00+00:00';

const readWindow = (): Promise<StreamRecord[]> => collect(serverlessUsage.readWindow(context(), WINDOW));

describe('serverless_usage.readWindow', () => {
  it('given a window when read then the request pins the UTC grain and expands time_series only (the endpoint has no auth expansion)', async () => {
    reply(REQUEST, usagePage());

    await readWindow();

    expect(paths).toHaveLength(1);
  });

  it('given one line when read then the record is exact, with a UTC bucket and a golden id', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, LINE));

    expect(await readWindow()).toEqual([
      {
        ...LINE,
        // Golden: digest of [timeframe, bucket, app, environment, machine_type, unit_price, percent_discount, is_surge].
        // If the recipe changes, every warehouse row is re-keyed and duplicated on the next sync.
        id: '4f6c1ff9cd35a9978e7a614dcc962bbb',
        bucket: '2026-07-26T00:00:00Z',
        timeframe: 'day',
        cost_total_nano_usd: 371_235_380,
      },
    ]);
  });

  it('given lines differing in one grain part, or with null app and environment, when read then the ids differ; null and 0 discount share one', async () => {
    // Regression: a composite key over nullable app/environment never matches in a warehouse MERGE, so rows duplicate.
    const variants: Record<string, unknown> = {
      base: LINE,
      noApp: { ...LINE, app: null },
      noEnvironment: { ...LINE, environment: null },
      neither: { ...LINE, app: null, environment: null },
      emptyApp: { ...LINE, app: '' },
      machine: { ...LINE, machine_type: 'GPU-A100' },
      price: { ...LINE, unit_price: 0.00033 },
      surge: { ...LINE, is_surge: true, unit_price: LINE.unit_price },
      zeroDiscount: { ...LINE, percent_discount: 0 },
    };
    // A later read of the same bucket: the same grains in another form (one window may not hold two lines of one grain).
    const later: Record<string, unknown> = {
      sameGrain: { ...LINE, quantity: 900, cost_total: 0.5 },
      nullDiscount: { ...LINE, percent_discount: null },
    };
    reply(REQUEST, usagePage().withBucket(BUCKET, ...Object.values(variants)));
    reply(REQUEST, usagePage().withBucket(BUCKET, ...Object.values(later)));

    const rows = await readWindow();
    const again = await readWindow();

    const ids = new Map(Object.keys(variants).map((name, i) => [name, rows[i]?.id]));
    expect(again[0]?.id).toBe(ids.get('base'));
    expect(again[1]?.id).toBe(ids.get('zeroDiscount'));
    const distinct = Object.keys(variants).map((n) => ids.get(n));
    expect(new Set(distinct).size).toBe(distinct.length);
    expect(rows[1]).toMatchObject({ app: null, environment: 'production' });
  });

  it('given a line without is_surge when read then a ResponseShapeError, since surge and non-surge rows could not be told apart', async () => {
    const { is_surge: _dropped, ...line } = LINE;
    reply(REQUEST, usagePage().withBucket(BUCKET, line));

    await expect(readWindow()).rejects.toBeInstanceOf(ResponseShapeError);
  });
});
