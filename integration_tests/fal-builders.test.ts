import { describe, expect, it } from 'vitest';

import { eventsPage, falRequest, keysPage, usagePage } from './helpers/fal-builders.js';

const REQUEST = falRequest('/v1/models/usage')
  .withWindow(Date.UTC(2026, 6, 20), '2026-07-27T00:00:00Z')
  .withTimeframe('day')
  .withExpand('time_series', 'auth_method_structured')
  .withLimit(100);

describe('falRequest', () => {
  it('given a built request when spelled then the target is the path and the query in the order given, instants in UTC Z', () => {
    expect(REQUEST.target).toBe(
      '/v1/models/usage?start=2026-07-20T00%3A00%3A00Z&end=2026-07-27T00%3A00%3A00Z&timeframe=day' +
        '&expand=time_series%2Cauth_method_structured&limit=100',
    );
  });

  it('given the same parameters in another order when matched then it matches', () => {
    expect(
      REQUEST.matches(
        '/v1/models/usage?limit=100&expand=time_series,auth_method_structured&timeframe=day&end=2026-07-27T00:00:00Z&start=2026-07-20T00:00:00Z',
      ),
    ).toBe(true);
  });

  it('given a request with one extra parameter when matched then it does not match, and the difference names it', () => {
    const actual = `${REQUEST.withCursor('Mg==').target}`;

    expect(REQUEST.matches(actual)).toBe(false);
    expect(REQUEST.difference(actual)).toBe('extra cursor=Mg==');
  });

  it('given a request with one parameter missing when matched then it does not match, and the difference names it', () => {
    const actual = falRequest('/v1/models/usage')
      .withWindow(Date.UTC(2026, 6, 20), Date.UTC(2026, 6, 27))
      .withTimeframe('day')
      .withExpand('time_series', 'auth_method_structured').target;

    expect(REQUEST.matches(actual)).toBe(false);
    expect(REQUEST.difference(actual)).toBe('missing limit=100');
  });

  it('given another value or another path when matched then it does not match', () => {
    expect(REQUEST.matches(REQUEST.withLimit(10).target)).toBe(false);
    expect(REQUEST.difference(REQUEST.withLimit(10).target)).toBe('missing limit=100; extra limit=10');
    expect(REQUEST.matches(REQUEST.target.replace('/models/', '/serverless/'))).toBe(false);
  });

  it('given a pinned timeframe when spelled then it is the timeframe, bound_to_timeframe=false and timezone=UTC', () => {
    expect(falRequest('/v1/serverless/usage').withPinnedTimeframe('hour').target).toBe(
      '/v1/serverless/usage?timeframe=hour&bound_to_timeframe=false&timezone=UTC',
    );
  });

  it('given a parameter added twice when matched then a request must send it twice', () => {
    const twice = falRequest('/v1/models/pricing').withParam('endpoint_id', 'a').withParam('endpoint_id', 'b');

    expect(twice.matches('/v1/models/pricing?endpoint_id=b&endpoint_id=a')).toBe(true);
    expect(twice.matches('/v1/models/pricing?endpoint_id=a')).toBe(false);
  });

  it('given a named setter called again when built then it replaces the value, and the base request is unchanged', () => {
    expect(REQUEST.withCursor('a').withCursor('b').target).toMatch(/&cursor=b$/);
    expect(REQUEST.target).not.toContain('cursor');
  });
});

describe('page builders', () => {
  it('given buckets, a summary and a next cursor when built then a usage page has the documented shape', () => {
    expect(
      usagePage()
        .withBucket('2026-07-26T00:00:00+00:00', { a: 1 }, { b: 2 })
        .withSummary({ s: 1 })
        .withNext('Mg==')
        .build(),
    ).toEqual({
      time_series: [{ bucket: '2026-07-26T00:00:00+00:00', results: [{ a: 1 }, { b: 2 }] }],
      summary: [{ s: 1 }],
      next_cursor: 'Mg==',
      has_more: true,
    });
  });

  it('given nothing when built then a usage page is the last, empty one; without time_series it has only the envelope', () => {
    expect(usagePage().build()).toEqual({ time_series: [], next_cursor: null, has_more: false });
    expect(usagePage().withoutTimeSeries().build()).toEqual({ next_cursor: null, has_more: false });
  });

  it('given items when built then events and keys pages have their documented list field and envelope', () => {
    expect(eventsPage({ request_id: 'r' }).withNext('Mg==').build()).toEqual({
      billing_events: [{ request_id: 'r' }],
      next_cursor: 'Mg==',
      has_more: true,
    });
    expect(keysPage().build()).toEqual({ keys: [], next_cursor: null, has_more: false });
  });
});
