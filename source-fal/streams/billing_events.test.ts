import { describe, expect, it } from 'vitest';

import { eventsPage, falRequest } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import { BILLING_EVENTS_MAX_RANGE_MS, BILLING_EVENTS_PAGE_LIMIT, billingEvents } from './billing_events.js';
import type { StreamContext, StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30, 12, 345);
const WINDOW: Window = { start: Date.UTC(2026, 6, 26), end: Date.UTC(2026, 6, 27) };

// fal's documented example, with the structured auth expansion.
const EVENT = {
  request_id: '0b7c1e9a-3f2d-4c55-9a7e-1d2f3a4b5c6d',
  endpoint_id: 'fal-ai/flux/dev',
  timestamp: '2026-07-26T00:00:08Z',
  output_units: 2,
  unit_price: 0.025,
  percent_discount: 10,
  cost_subtotal: 0.05,
  cost_discount: 0.005,
  cost_total: 0.045,
  cost_estimate_nano_usd: 45_000_000,
  auth_method_structured: { detail: 'Production Key', api_key_id: 'kid-7f3a' },
};

const { context, paths, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

/** Exactly what the stream asks for WINDOW: that range, the page maximum and the structured auth. */
const REQUEST = falRequest('/v1/models/billing-events')
  .withWindow('2026-07-26T00:00:00Z', '2026-07-27T00:00:00Z')
  .withExpand('auth_method_structured')
  .withLimit(10_000);

/** Reads a window and returns the records as they would be written (through JSON). */
async function readWindow(ctx: StreamContext, window: Window = WINDOW): Promise<StreamRecord[]> {
  return JSON.parse(JSON.stringify(await collect(billingEvents.readWindow(ctx, window)))) as StreamRecord[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('billing_events.readWindow', () => {
  it('given a window when read then the request asks for exactly that range, the page maximum and the structured auth', async () => {
    reply(REQUEST, eventsPage());

    await readWindow(context());

    expect(paths).toHaveLength(1);
    expect(BILLING_EVENTS_PAGE_LIMIT).toBe(10_000);
  });

  it('given fal’s example event when read then the record keeps every field, flattens the auth method and drops the nested object', async () => {
    reply(REQUEST, eventsPage(EVENT));

    const records = await readWindow(context());

    expect(records).toEqual([
      {
        request_id: '0b7c1e9a-3f2d-4c55-9a7e-1d2f3a4b5c6d',
        endpoint_id: 'fal-ai/flux/dev',
        timestamp: '2026-07-26T00:00:08Z',
        output_units: 2,
        unit_price: 0.025,
        percent_discount: 10,
        cost_subtotal: 0.05,
        cost_discount: 0.005,
        cost_total: 0.045,
        cost_estimate_nano_usd: 45_000_000,
        auth_method: 'Production Key',
        api_key_id: 'kid-7f3a',
        login_username: null,
      },
    ]);
  });

  it('given a web-UI request, an offset timestamp and an unknown field when read then login, UTC instant and the field come through', async () => {
    reply(
      REQUEST,
      eventsPage({
        ...EVENT,
        timestamp: '2026-07-25T20:00:08-04:00',
        auth_method_structured: { detail: 'User token', login_username: 'alice' },
        billing_region: 'us-east',
      }),
    );

    const [record] = await readWindow(context());

    expect(record).toMatchObject({
      timestamp: '2026-07-26T00:00:08Z',
      auth_method: 'User token',
      api_key_id: null,
      login_username: 'alice',
      billing_region: 'us-east',
    });
  });

  it('given an event with only the auth_method label when read then the label is kept and the ids are null', async () => {
    const { auth_method_structured: _dropped, ...plain } = EVENT;
    reply(REQUEST, eventsPage({ ...plain, auth_method: 'Key 1' }));

    const [record] = await readWindow(context());

    expect(record).toMatchObject({ auth_method: 'Key 1', api_key_id: null, login_username: null });
    expect(record).not.toHaveProperty('auth_method_structured');
  });

  it('given cost_estimate_nano_usd null or fractional when read then it is derived exactly from cost_total', async () => {
    // fal's nano value can briefly be null while billing catches up; the column stays an integer.
    reply(
      REQUEST,
      eventsPage(
        { ...EVENT, request_id: 'a', cost_total: 0.1, cost_estimate_nano_usd: null },
        { ...EVENT, request_id: 'b', cost_total: 0.045, cost_estimate_nano_usd: 45_000_000.5 },
        { ...EVENT, request_id: 'c', cost_total: 1e-7, cost_estimate_nano_usd: undefined },
      ),
    );

    const records = await readWindow(context());

    expect(records.map((r) => r.cost_estimate_nano_usd)).toEqual([100_000_000, 45_000_000, 100]);
  });

  it('given two pages when read then records of both pages come back in order, the second asked for with the cursor', async () => {
    reply(REQUEST, eventsPage({ ...EVENT, request_id: 'first' }).withNext('Mg=='));
    reply(REQUEST.withCursor('Mg=='), eventsPage({ ...EVENT, request_id: 'second' }));

    const records = await readWindow(context());

    expect(records.map((r) => r.request_id)).toEqual(['first', 'second']);
  });

  it.each([
    ['an item that is not an object', ['oops'], /not an object/],
    ['an event without request_id', [{ ...EVENT, request_id: undefined }], /without a request_id/],
    ['an event with an empty request_id', [{ ...EVENT, request_id: '' }], /without a request_id/],
    ['an event without timestamp', [{ ...EVENT, timestamp: null }], /without a timestamp/],
    ['an event with a timestamp that is not one', [{ ...EVENT, timestamp: 'yesterday' }], /"yesterday"/],
    ['an event with a string cost_total', [{ ...EVENT, cost_total: '0.045' }], /cost_total/],
  ])('given %s when read then a ResponseShapeError naming the endpoint and window', async (_label, events, message) => {
    // Regression guard: a silently skipped or mangled event would under-count spend with no error.
    reply(REQUEST, eventsPage(...events));

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(message);
    expect((error as ResponseShapeError).context).toEqual({
      endpoint: 'GET /models/billing-events',
      window: '2026-07-26T00:00:00Z/2026-07-27T00:00:00Z',
    });
  });

  it('given a page without billing_events when read then a ResponseShapeError, not an empty window', async () => {
    reply(REQUEST, { body: { next_cursor: null, has_more: false, events: [] } });

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).context.endpoint).toBe('GET /models/billing-events');
  });
});

describe('billing_events.windows', () => {
  const windowsOf = (ctx: StreamContext, saved: number | undefined) => billingEvents.windows(ctx, saved);

  it('given one request at a time and no saved cursor when windowed then one window per UTC day from start_date’s midnight up to now', () => {
    const windows = windowsOf(context({ start_date: '2026-07-24T13:00:00Z', max_concurrent_requests: 1 }), undefined);

    expect(windows.map((w) => [iso(w.start), iso(w.end)])).toEqual([
      ['2026-07-24T00:00:00.000Z', '2026-07-25T00:00:00.000Z'],
      ['2026-07-25T00:00:00.000Z', '2026-07-26T00:00:00.000Z'],
      ['2026-07-26T00:00:00.000Z', '2026-07-27T00:00:00.000Z'],
      ['2026-07-27T00:00:00.000Z', '2026-07-27T15:30:12.345Z'],
    ]);
  });

  it('given concurrent reads and no saved cursor when windowed then one window per quarter of a UTC day from start_date’s quarter up to now', () => {
    const windows = windowsOf(context({ start_date: '2026-07-26T13:00:00Z', max_concurrent_requests: 4 }), undefined);

    expect(windows.map((w) => [iso(w.start), iso(w.end)])).toEqual([
      ['2026-07-26T12:00:00.000Z', '2026-07-26T18:00:00.000Z'],
      ['2026-07-26T18:00:00.000Z', '2026-07-27T00:00:00.000Z'],
      ['2026-07-27T00:00:00.000Z', '2026-07-27T06:00:00.000Z'],
      ['2026-07-27T06:00:00.000Z', '2026-07-27T12:00:00.000Z'],
      ['2026-07-27T12:00:00.000Z', '2026-07-27T15:30:12.345Z'],
    ]);
  });

  it('given a long history when windowed then every window is at most one day, far inside fal’s 90-day cap', () => {
    const windows = windowsOf(context({ start_date: '2026-01-01', max_concurrent_requests: 1 }), undefined);

    expect(windows).toHaveLength(208);
    for (const w of windows) {
      expect(w.end - w.start).toBeLessThanOrEqual(86_400_000);
      expect(w.end - w.start).toBeLessThan(BILLING_EVENTS_MAX_RANGE_MS);
    }
  });

  it('given a saved cursor when windowed then the first window starts lookback_days earlier, at the start of its window', () => {
    const saved = Date.UTC(2026, 6, 26, 9, 15);
    expect(iso(windowsOf(context({ max_concurrent_requests: 1 }), saved)[0]?.start ?? 0)).toBe(
      '2026-07-23T00:00:00.000Z',
    );
    expect(iso(windowsOf(context({ lookback_days: 0, max_concurrent_requests: 1 }), saved)[0]?.start ?? 0)).toBe(
      '2026-07-26T00:00:00.000Z',
    );
    expect(iso(windowsOf(context({ max_concurrent_requests: 4 }), saved)[0]?.start ?? 0)).toBe(
      '2026-07-23T06:00:00.000Z',
    );
    expect(iso(windowsOf(context({ lookback_days: 0, max_concurrent_requests: 4 }), saved)[0]?.start ?? 0)).toBe(
      '2026-07-26T06:00:00.000Z',
    );
  });
});

describe('billing_events.cursorAfter', () => {
  it('given a window ending at the run’s now when completed then the cursor is that end, floored to the second', () => {
    expect(iso(billingEvents.cursorAfter(context(), { start: Date.UTC(2026, 6, 27), end: NOW }))).toBe(
      '2026-07-27T15:30:12.000Z',
    );
    expect(billingEvents.cursorAfter(context(), WINDOW)).toBe(WINDOW.end);
  });
});
