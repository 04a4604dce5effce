import { describe, expect, it } from 'vitest';

import { falRequest, usagePage } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import type { StreamContext, StreamRecord } from './stream.js';
import { usage } from './usage.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30);
const WINDOW: Window = { start: Date.UTC(2026, 6, 20), end: Date.UTC(2026, 6, 27) };

const LINE = {
  endpoint_id: 'fal-ai/flux/dev',
  unit: 'image',
  quantity: 3,
  unit_price: 0.025,
  percent_discount: 10,
  cost_subtotal: 0.075,
  cost_discount: 0.0075,
  cost_total: 0.0675,
  currency: 'USD',
  auth_method: 'Key: prod',
  auth_method_structured: { detail: 'Key: prod', api_key_id: 'kid-7f3a', login_username: null },
};

const { context, paths, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

/** Exactly what the stream asks for WINDOW at the default day grain: pinned timeframe, bounds, zone, expansions, limit. */
const REQUEST = falRequest('/v1/models/usage')
  .withWindow('2026-07-20T00:00:00Z', '2026-07-27T00:00:00Z')
  .withPinnedTimeframe('day')
  .withExpand('time_series', 'auth_method_structured')
  .withLimit(100);
const BUCKET = '2026-07-26T00:00:00+00:00';

const readWindow = (ctx: StreamContext, window: Window = WINDOW): Promise<StreamRecord[]> =>
  collect(usage.readWindow(ctx, window));

const iso = (ms: number): string => new Date(ms).toISOString();

describe('usage.readWindow', () => {
  it('given a window when read then the request pins timeframe, bounds, zone, expansions, limit and exact instants', async () => {
    // Regression: letting fal pick the grain or snap to its own timeframe re-labels or truncates buckets.
    reply(REQUEST, usagePage());

    await readWindow(context());

    expect(paths).toHaveLength(1);
  });

  it('given hourly granularity when read then timeframe is hour', async () => {
    reply(REQUEST.withTimeframe('hour').withWindow('2026-07-27T10:00:00Z', '2026-07-27T15:30:00Z'), usagePage());

    await readWindow(context({ usage_granularity: 'hour' }), {
      start: Date.UTC(2026, 6, 27, 10),
      end: Date.UTC(2026, 6, 27, 15, 30),
    });

    expect(paths).toHaveLength(1);
  });

  it('given one line in an offset-labelled bucket when read then the record is exact, with a UTC Z bucket', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, LINE));

    const records = await readWindow(context());

    expect(records).toEqual([
      {
        endpoint_id: 'fal-ai/flux/dev',
        unit: 'image',
        quantity: 3,
        unit_price: 0.025,
        // Golden: digest of [timeframe, bucket, endpoint_id, unit, unit_price, percent_discount, api_key_id, login, null].
        // If the recipe changes, every warehouse row is re-keyed and duplicated on the next sync.
        id: '11415302568e6aef32068c2d304adf81',
        bucket: '2026-07-26T00:00:00Z',
        timeframe: 'day',
        percent_discount: 10,
        cost_subtotal: 0.075,
        cost_discount: 0.0075,
        cost_total: 0.0675,
        cost_total_nano_usd: 67_500_000,
        currency: 'USD',
        auth_method: 'Key: prod',
        api_key_id: 'kid-7f3a',
        login_username: null,
      },
    ]);
  });

  it('given a bucket labelled with a negative offset when read then the bucket is the same instant in UTC', async () => {
    reply(REQUEST, usagePage().withBucket('2026-07-25T19:00:00-05:00', LINE));

    const [record] = await readWindow(context());

    expect(record?.bucket).toBe('2026-07-26T00:00:00Z');
  });

  it('given a line with only the deprecated cost when read then cost_total and its nano value come from cost', async () => {
    // Older responses carry only `cost`; reading cost_total alone would load nulls as spend.
    const { cost_total: _dropped, ...legacy } = LINE;
    reply(REQUEST, usagePage().withBucket(BUCKET, { ...legacy, cost: 0.0675 }));

    const [record] = await readWindow(context());

    expect(record).toMatchObject({ cost: 0.0675, cost_total: 0.0675, cost_total_nano_usd: 67_500_000 });
  });

  it('given both cost_total and cost when read then cost_total wins', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, { ...LINE, cost: 0.075 }));

    const [record] = await readWindow(context());

    expect(record).toMatchObject({ cost_total: 0.0675, cost_total_nano_usd: 67_500_000 });
  });

  it('given costs a double cannot hold when read then cost_total_nano_usd is the exact integer', async () => {
    reply(
      REQUEST,
      usagePage().withBucket(
        BUCKET,
        { ...LINE, unit: 'a', cost_total: 0.1 },
        { ...LINE, unit: 'b', cost_total: 1234.567891234 },
        { ...LINE, unit: 'c', cost_total: 1e-7 },
        { ...LINE, unit: 'd', cost_total: -0.29 },
      ),
    );

    const records = await readWindow(context());

    expect(records.map((r) => r.cost_total_nano_usd)).toEqual([100_000_000, 1_234_567_891_234, 100, -290_000_000]);
  });

  it('given lines differing in exactly one grain part when read then each id differs, and same-grain lines share one', async () => {
    // Regression: a key missing a grain part collapses distinct lines into one row in the warehouse.
    const auth = LINE.auth_method_structured;
    const variants: Record<string, unknown> = {
      base: LINE,
      endpoint: { ...LINE, endpoint_id: 'fal-ai/flux/schnell' },
      unit: { ...LINE, unit: 'megapixel' },
      unitPrice: { ...LINE, unit_price: 0.03 },
      percentDiscount: { ...LINE, percent_discount: 0 },
      apiKeyId: { ...LINE, auth_method_structured: { ...auth, api_key_id: 'kid-0000' } },
      login: { ...LINE, auth_method_structured: { ...auth, login_username: 'ana' } },
      userToken: {
        ...LINE,
        auth_method: 'User token',
        auth_method_structured: { detail: 'User token', api_key_id: null, login_username: 'ana' },
      },
      userTokenOther: {
        ...LINE,
        auth_method: 'User token',
        auth_method_structured: { detail: 'User token', api_key_id: null, login_username: 'bo' },
      },
    };
    // A later read of the same bucket: the same grains in another form.
    const later: Record<string, unknown> = {
      // Same grain, other measures and a renamed key label: must update the base row, not add one.
      sameGrain: {
        ...LINE,
        quantity: 4,
        cost_total: 0.09,
        auth_method: 'Key: prod-renamed',
        auth_method_structured: { ...auth, detail: 'Key: prod-renamed' },
      },
      // null and 0 both mean "no discount": one grain, one id (else a response that switches form duplicates rows).
      noDiscount: { ...LINE, percent_discount: null },
    };
    const names = Object.keys(variants);
    reply(
      REQUEST,
      usagePage()
        .withBucket(BUCKET, ...Object.values(variants))
        .withBucket('2026-07-25T00:00:00+00:00', LINE),
    );
    reply(REQUEST, usagePage().withBucket(BUCKET, ...Object.values(later)));

    const ctx = context();
    const records = await readWindow(ctx);
    const again = await readWindow(ctx);

    const ids = new Map(names.map((name, i) => [name, records[i]?.id]));
    const otherBucket = records[names.length]?.id;
    expect(again[0]?.id).toBe(ids.get('base'));
    expect(again[1]?.id).toBe(ids.get('percentDiscount'));
    const distinct = [...names.map((n) => ids.get(n)), otherBucket];
    expect(new Set(distinct).size).toBe(distinct.length);
  });

  it('given two different lines for one grain in one window when read then a ResponseShapeError, never a silent merge', async () => {
    // Regression: with auth_method_structured gone from a response, every key's line in a bucket got the same id and
    // the warehouse upsert kept one of them: spend under-counted without a word.
    const { auth_method_structured: _auth, ...anonymous } = LINE;
    reply(REQUEST, usagePage().withBucket(BUCKET, anonymous).withNext('Mg=='));
    reply(
      REQUEST.withCursor('Mg=='),
      usagePage().withBucket(BUCKET, { ...anonymous, quantity: 7, cost_total: 0.1575 }),
    );

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(
      /^fal sent two different lines for the same usage grain in bucket 2026-07-26T00:00:00Z \(id [0-9a-f]{32}\); loading both would keep only one and under-count\./,
    );
    expect((error as ResponseShapeError).context).toEqual({
      endpoint: 'GET /models/usage',
      window: '2026-07-20T00:00:00Z/2026-07-27T00:00:00Z',
    });
  });

  it('given the same line on two pages (a page boundary that moved) when read then both pass, one id', async () => {
    reply(REQUEST, usagePage().withBucket(BUCKET, LINE).withNext('Mg=='));
    reply(REQUEST.withCursor('Mg=='), usagePage().withBucket(BUCKET, LINE));

    const records = await readWindow(context());

    expect(records).toHaveLength(2);
    expect(records[0]).toEqual(records[1]);
  });

  it('given a page with summary rows but without time_series when read then a ResponseShapeError naming the endpoint', async () => {
    // Regression: a missing array read as "no usage" and the sync checkpointed past real spend. (A page without
    // time_series and without usage is an empty window, as fal documents; see below.)
    reply(REQUEST, usagePage().withoutTimeSeries().withSummary(LINE));

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toContain('GET /models/usage');
    expect((error as ResponseShapeError).context.endpoint).toBe('GET /models/usage');
  });

  it('given a bucket label that is not a timestamp when read then a ResponseShapeError naming the window', async () => {
    reply(REQUEST, usagePage().withBucket('last tuesday', LINE));

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).context).toEqual({
      endpoint: 'GET /models/usage',
      window: '2026-07-20T00:00:00Z/2026-07-27T00:00:00Z',
    });
  });

  it('given two pages when read then records of both pages come back in order', async () => {
    reply(REQUEST, usagePage().withBucket('2026-07-25T00:00:00+00:00', LINE).withNext('Mg=='));
    reply(REQUEST.withCursor('Mg=='), usagePage().withBucket(BUCKET, LINE));

    const records = await readWindow(context());

    expect(records.map((r) => r.bucket)).toEqual(['2026-07-25T00:00:00Z', '2026-07-26T00:00:00Z']);
  });
});

describe('usage.windows', () => {
  const windowsOf = (ctx: StreamContext, saved: number | undefined) =>
    usage.windows(ctx, saved).map((w) => [iso(w.start), iso(w.end)]);

  it('given no saved cursor when windowed then windows of 7 days from start_date up to now, the last one partial', async () => {
    expect(windowsOf(context(), undefined)).toEqual([
      ['2026-07-01T00:00:00.000Z', '2026-07-08T00:00:00.000Z'],
      ['2026-07-08T00:00:00.000Z', '2026-07-15T00:00:00.000Z'],
      ['2026-07-15T00:00:00.000Z', '2026-07-22T00:00:00.000Z'],
      ['2026-07-22T00:00:00.000Z', '2026-07-27T15:30:00.000Z'],
    ]);
  });

  it('given a saved cursor when windowed then the first window starts lookback_days earlier', async () => {
    expect(windowsOf(context(), Date.UTC(2026, 6, 20))).toEqual([
      ['2026-07-17T00:00:00.000Z', '2026-07-24T00:00:00.000Z'],
      ['2026-07-24T00:00:00.000Z', '2026-07-27T15:30:00.000Z'],
    ]);
    expect(windowsOf(context({ lookback_days: 0 }), Date.UTC(2026, 6, 20))[0]).toEqual([
      '2026-07-20T00:00:00.000Z',
      '2026-07-27T00:00:00.000Z',
    ]);
  });

  it('given a mid-day saved cursor or start_date when windowed then the first window still starts at UTC midnight', async () => {
    // Regression: a lookback of "cursor minus N days" started mid-day and overwrote a full day with a partial one.
    expect(windowsOf(context(), Date.UTC(2026, 6, 20, 12, 45))[0]?.[0]).toBe('2026-07-17T00:00:00.000Z');
    expect(windowsOf(context({ start_date: '2026-07-01T06:00:00Z' }), undefined)[0]?.[0]).toBe(
      '2026-07-01T00:00:00.000Z',
    );
  });

  it('given a lookback reaching before start_date when windowed then it starts at start_date', async () => {
    expect(windowsOf(context({ lookback_days: 30 }), Date.UTC(2026, 6, 20))[0]?.[0]).toBe('2026-07-01T00:00:00.000Z');
  });

  it('given hourly granularity when windowed then one-day windows start on the hour', async () => {
    expect(windowsOf(context({ usage_granularity: 'hour', lookback_days: 0 }), Date.UTC(2026, 6, 26, 10, 30))).toEqual([
      ['2026-07-26T10:00:00.000Z', '2026-07-27T10:00:00.000Z'],
      ['2026-07-27T10:00:00.000Z', '2026-07-27T15:30:00.000Z'],
    ]);
  });

  it('given a saved cursor at now when windowed then only the lookback is re-read', async () => {
    expect(windowsOf(context({ lookback_days: 1 }), NOW)).toEqual([
      ['2026-07-26T00:00:00.000Z', '2026-07-27T15:30:00.000Z'],
    ]);
  });
});

describe('usage.cursorAfter', () => {
  it('given a window ending mid-day when completed then the cursor is that day’s start, so the open day is read again', () => {
    // Regression: saving the run's now as the cursor skipped the rest of a still-open bucket forever.
    expect(iso(usage.cursorAfter(context(), { start: Date.UTC(2026, 6, 22), end: NOW }))).toBe(
      '2026-07-27T00:00:00.000Z',
    );
  });

  it('given a window ending at midnight when completed then the cursor is that midnight', () => {
    expect(usage.cursorAfter(context(), WINDOW)).toBe(WINDOW.end);
  });

  it('given hourly granularity and a window ending mid-hour when completed then the cursor is that hour’s start', () => {
    expect(
      iso(usage.cursorAfter(context({ usage_granularity: 'hour' }), { start: Date.UTC(2026, 6, 27), end: NOW })),
    ).toBe('2026-07-27T15:00:00.000Z');
  });
});

describe('usage.readWindow when fal leaves time_series out', () => {
  it('given a window with no usage answered without time_series when read then it yields no records and no error', async () => {
    reply(REQUEST, usagePage().withoutTimeSeries());

    expect(await readWindow(context())).toEqual([]);
  });
});
