import { describe, expect, it } from 'vitest';

import { eventsPage, falRequest } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import { completeEvent } from './billing-event.js';
import { orgBillingEvents } from './org_billing_events.js';
import type { StreamContext, StreamRecord } from './stream.js';

/** What completeEvent is told about an organization event (the stream passes the same). */
const ORG_EVENTS = { endpoint: 'GET /organization/billing-events', organization: true };

const NOW = Date.UTC(2026, 6, 27, 15, 30);
const WINDOW: Window = { start: Date.UTC(2026, 6, 26), end: Date.UTC(2026, 6, 27) };

const EVENT = {
  request_id: '0b6b3f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
  endpoint_id: 'fal-ai/flux/dev',
  timestamp: '2026-07-26T00:00:08Z',
  output_units: 2,
  unit_price: 0.025,
  percent_discount: 10,
  cost_subtotal: 0.05,
  cost_discount: 0.005,
  cost_total: 0.045,
  cost_estimate_nano_usd: 45_000_000,
  username: 'acme-ml',
  auth_method_structured: { detail: 'my-key (owner: alice)', api_key_id: 'kid-7f3a' },
};

const { context, paths, reply } = useFalMock({ now: NOW, startDate: '2026-07-20' });

/** Exactly what the stream asks for WINDOW: exact instants, 100 rows a page, the structured auth expansion. */
const REQUEST = falRequest('/v1/organization/billing-events')
  .withWindow('2026-07-26T00:00:00Z', '2026-07-27T00:00:00Z')
  .withExpand('auth_method_structured')
  .withLimit(100);

const readWindow = (ctx: StreamContext, window: Window = WINDOW): Promise<StreamRecord[]> =>
  collect(orgBillingEvents.readWindow(ctx, window));

const iso = (ms: number): string => new Date(ms).toISOString();

describe('org_billing_events.readWindow', () => {
  it('given a day window when read then the request sends exact instants, 100 rows a page and the structured auth expansion', async () => {
    // Regression: fal caps this endpoint at 100 rows a page; asking for more is a 400 and the stream fails.
    reply(REQUEST, eventsPage());

    await readWindow(context());

    expect(paths).toHaveLength(1);
  });

  it('given two pages when read then both pages come back in order with the same window on each call', async () => {
    reply(REQUEST, eventsPage(EVENT).withNext('Mg=='));
    reply(REQUEST.withCursor('Mg=='), eventsPage({ ...EVENT, request_id: 'second' }));

    const rows = await readWindow(context());

    expect(rows.map((r) => r.request_id)).toEqual([EVENT.request_id, 'second']);
  });
});

describe('completeEvent of an organization event', () => {
  it('given a full event when mapped then fal fields pass through with username, flat auth columns and the exact nano total', () => {
    expect(completeEvent({ ...EVENT, future_field: 'kept' }, WINDOW, ORG_EVENTS)).toEqual({
      request_id: EVENT.request_id,
      endpoint_id: 'fal-ai/flux/dev',
      timestamp: '2026-07-26T00:00:08Z',
      output_units: 2,
      unit_price: 0.025,
      percent_discount: 10,
      cost_subtotal: 0.05,
      cost_discount: 0.005,
      cost_total: 0.045,
      cost_estimate_nano_usd: 45_000_000,
      cost_total_nano_usd: 45_000_000,
      username: 'acme-ml',
      future_field: 'kept',
      auth_method: 'my-key (owner: alice)',
      api_key_id: 'kid-7f3a',
      login_username: null,
    });
  });

  it('given an offset timestamp and no nano estimate when mapped then the timestamp is UTC Z and the nano total comes from cost_total', () => {
    // fal's nano estimate may be null for a moment while billing catches up.
    const row = completeEvent(
      {
        ...EVENT,
        timestamp: '2026-07-25T19:00:08-05:00',
        cost_estimate_nano_usd: null,
        auth_method_structured: undefined,
        auth_method: 'None',
      },
      WINDOW,
      ORG_EVENTS,
    );
    expect(row).toMatchObject({
      timestamp: '2026-07-26T00:00:08Z',
      cost_total_nano_usd: 45_000_000,
      auth_method: 'None',
      api_key_id: null,
    });
  });

  it.each([
    ['not an object', 'oops', /not an object/],
    ['no request_id', { ...EVENT, request_id: '' }, /without a request_id/],
    ['no username', { ...EVENT, username: undefined }, /without a team username/],
    ['a bad timestamp', { ...EVENT, timestamp: 'yesterday' }, /not one/],
  ])('given %s when mapped then a ResponseShapeError naming the endpoint and window', (_label, item, message) => {
    // Regression: a primary key or cursor that is not there must stop the stream, never load a null key.
    const error = (() => {
      try {
        completeEvent(item, WINDOW, ORG_EVENTS);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(message);
    expect((error as ResponseShapeError).context).toEqual({
      endpoint: 'GET /organization/billing-events',
      window: '2026-07-26T00:00:00Z/2026-07-27T00:00:00Z',
    });
  });
});

describe('org_billing_events.windows', () => {
  it('given a saved cursor mid-day when windowed then one-day windows start at midnight lookback_days earlier and the last ends now', () => {
    const windows = orgBillingEvents
      .windows(context({ lookback_days: 2 }), Date.UTC(2026, 6, 26, 13, 5))
      .map((w) => [iso(w.start), iso(w.end)]);
    expect(windows).toEqual([
      ['2026-07-24T00:00:00.000Z', '2026-07-25T00:00:00.000Z'],
      ['2026-07-25T00:00:00.000Z', '2026-07-26T00:00:00.000Z'],
      ['2026-07-26T00:00:00.000Z', '2026-07-27T00:00:00.000Z'],
      ['2026-07-27T00:00:00.000Z', '2026-07-27T15:30:00.000Z'],
    ]);
  });

  it('given a completed window when checkpointed then the cursor is the window end', () => {
    expect(orgBillingEvents.cursorAfter(context(), { start: Date.UTC(2026, 6, 27), end: NOW })).toBe(NOW);
  });
});
