import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ConfigError, ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import { focusEstimates } from './focus_estimates.js';
import type { StreamContext, StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 10, 25, 12, 34, 56);
/** The last two days up to now: a whole day and today's part. */
const WINDOW: Window = { start: Date.UTC(2026, 10, 24), end: NOW };

const HEADER =
  'BillingAccountId,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeDescription,InvoiceId,SkuId,ListUnitPrice,PricingQuantity,ConsumedQuantity,ConsumedUnit,ListCost,EffectiveCost,BilledCost,Tags,x_PercentDiscount';
/** One day's estimate line for an endpoint; `cost` and `quantity` are the measures that grow during the day. */
const line = (day: string, quantity = '1200', cost = '30.00'): string =>
  `acme-ml,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,${day}T00:00:00Z,${nextDay(day)},Usage,"fal-ai/flux/dev: images at $0.025, ""list"" price",,fal-ai/flux/dev,0.025,${quantity},${quantity},image,${cost},${cost},${cost},,`;

const nextDay = (day: string): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 19) + 'Z';

const { context, paths, logs, reply } = useFalMock({ now: NOW, startDate: '2026-11-01' });

function focusReply(status: number, body: string, contentType = 'text/csv; charset=utf-8'): void {
  reply('/v1/account/focus?', { status, body, contentType, headers: { 'x-fal-request-id': 'req-42' } });
}

const csv = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const readWindow = (ctx: StreamContext, window: Window = WINDOW): Promise<StreamRecord[]> =>
  collect(focusEstimates.readWindow(ctx, window));
const params = (path: string): Record<string, string> => Object.fromEntries(new URL(path, FAL_ORIGIN).searchParams);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('focus_estimates.readWindow', () => {
  it('given a window when read then it asks for the estimate source from its start to its end, in UTC days', async () => {
    focusReply(200, csv(HEADER));

    expect(await readWindow(context())).toEqual([]);

    expect(new URL(paths[0] ?? '', FAL_ORIGIN).pathname).toBe('/v1/account/focus');
    expect(params(paths[0] ?? '')).toEqual({
      source: 'estimate',
      start: '2026-11-24T00:00:00Z',
      end: '2026-11-25T12:34:56Z',
      timeframe: 'day',
      timezone: 'UTC',
      bound_to_timeframe: 'false',
    });
  });

  it('given daily lines with quoted commas and quotes when read then one typed record per line, typed as invoices are', async () => {
    focusReply(200, `\ufeff${csv(HEADER, line('2026-11-24'), line('2026-11-25', '40', '1.00'))}`);

    const records = await readWindow(context());

    expect(records).toHaveLength(2);
    expect(records[0]).toEqual({
      // Golden: digest of [ChargePeriodStart, every column's raw text but the measures, sorted by name, ordinal]. If
      // the recipe changes, every estimate row is re-keyed and duplicated in the warehouse on the next read.
      id: '71912d43748207ef6c185668e2e81197',
      BillingAccountId: 'acme-ml',
      BillingPeriodStart: '2026-11-01T00:00:00Z',
      BillingPeriodEnd: '2026-12-01T00:00:00Z',
      ChargePeriodStart: '2026-11-24T00:00:00Z',
      ChargePeriodEnd: '2026-11-25T00:00:00Z',
      ChargeCategory: 'Usage',
      ChargeDescription: 'fal-ai/flux/dev: images at $0.025, "list" price',
      InvoiceId: null,
      SkuId: 'fal-ai/flux/dev',
      ListUnitPrice: 0.025,
      PricingQuantity: 1200,
      ConsumedQuantity: 1200,
      ConsumedUnit: 'image',
      ListCost: 30,
      EffectiveCost: 30,
      BilledCost: 30,
      billed_cost_nano_usd: 30_000_000_000,
      Tags: null,
      x_PercentDiscount: null,
    });
    expect(records[1]).toMatchObject({
      ChargePeriodStart: '2026-11-25T00:00:00Z',
      billed_cost_nano_usd: 1_000_000_000,
    });
    expect(records[1]?.id).not.toBe(records[0]?.id);
  });

  it('given a day read again after its amounts grew when read then its lines keep their ids (an update, not a new row)', async () => {
    // Regression guard: an id over every column (as invoices have) would change with the amounts, so each lookback
    // re-read of today would add a row and the warehouse would count the day's spend again and again.
    focusReply(200, csv(HEADER, line('2026-11-25', '40', '1.00')));
    focusReply(200, csv(HEADER, line('2026-11-25', '400', '10.00')));

    const [early] = await readWindow(context());
    const [later] = await readWindow(context());

    expect(later?.billed_cost_nano_usd).toBe(10_000_000_000);
    expect(later?.id).toBe(early?.id);
  });

  it('given two lines that differ only in their amounts when read then two records with distinct ids', async () => {
    focusReply(200, csv(HEADER, line('2026-11-24'), line('2026-11-24', '4', '0.10')));

    const records = await readWindow(context());

    expect(new Set(records.map((r) => r.id)).size).toBe(2);
  });

  it('given a line without ChargePeriodStart when read then a ResponseShapeError naming the window, not a record without a day', async () => {
    focusReply(200, csv('ChargePeriodStart,BilledCost', ',1.50'));

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(
      /FOCUS estimate CSV for 2026-11-24T00:00:00Z\/2026-11-25T12:34:56Z cannot be read.*no ChargePeriodStart/,
    );
    expect((error as ResponseShapeError).context).toEqual({ endpoint: 'GET /account/focus', requestId: 'req-42' });
  });

  it('given a cost that is not a number when read then a ResponseShapeError, as for invoices', async () => {
    focusReply(200, csv(HEADER, line('2026-11-24', '1', 'thirty')));

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(/ListCost is "thirty"/);
  });

  it('given 403 when read then a config_error naming focus_estimates and FOCUS reports, with fal’s words', async () => {
    focusReply(
      403,
      JSON.stringify({ error: { type: 'authorization_error', message: 'FOCUS reports are not enabled' } }),
      'application/json',
    );

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('focus_not_enabled');
    expect((error as ConfigError).message).toMatch(
      /^The focus_estimates stream needs FOCUS billing reports.*fal says: "FOCUS reports are not enabled"/,
    );
  });
});

describe('focus_estimates.windows', () => {
  const windowsOf = (ctx: StreamContext, saved: number | undefined) =>
    focusEstimates.windows(ctx, saved).map((w) => [iso(w.start), iso(w.end)]);

  it('given no saved cursor when windowed then windows of at most 30 whole days from start_date up to now', () => {
    expect(windowsOf(context({ start_date: '2026-09-20T15:00:00Z' }), undefined)).toEqual([
      ['2026-09-20T00:00:00.000Z', '2026-10-20T00:00:00.000Z'],
      ['2026-10-20T00:00:00.000Z', '2026-11-19T00:00:00.000Z'],
      ['2026-11-19T00:00:00.000Z', '2026-11-25T12:34:56.000Z'],
    ]);
    expect(logs).toEqual([]);
  });

  it('given a saved cursor when windowed then it starts lookback_days before it', () => {
    expect(windowsOf(context({ lookback_days: 3 }), Date.UTC(2026, 10, 25))).toEqual([
      ['2026-11-22T00:00:00.000Z', '2026-11-25T12:34:56.000Z'],
    ]);
  });

  it('given a saved cursor in the future when windowed then nothing', () => {
    expect(windowsOf(context(), Date.UTC(2099, 0, 1))).toEqual([]);
  });

  it('given a start_date more than 90 days back when windowed then it starts at the oldest whole day fal estimates, and says so once', () => {
    // fal serves estimates for 90 days; 2026-11-25T12:34:56Z − 90 days = 2026-08-27T12:34:56Z, so 2026-08-28 is the
    // oldest whole day. Asking for older days would fail the stream on every run.
    expect(windowsOf(context({ start_date: '2026-01-01' }), undefined)).toEqual([
      ['2026-08-28T00:00:00.000Z', '2026-09-27T00:00:00.000Z'],
      ['2026-09-27T00:00:00.000Z', '2026-10-27T00:00:00.000Z'],
      ['2026-10-27T00:00:00.000Z', '2026-11-25T12:34:56.000Z'],
    ]);
    expect(logs).toEqual([
      'INFO focus_estimates: fal keeps FOCUS estimates for 90 days, so reading starts at 2026-08-28T00:00:00Z instead of 2026-01-01T00:00:00Z; the charges of earlier months are in the invoices stream.',
    ]);
  });
});

describe('focus_estimates.cursorAfter', () => {
  it('given the last window ending at now when completed then the cursor is today’s start, so the next run reads today again', () => {
    expect(iso(focusEstimates.cursorAfter(context(), WINDOW))).toBe('2026-11-25T00:00:00.000Z');
  });

  it('given a window of whole days when completed then the cursor is its end', () => {
    const days: Window = { start: Date.UTC(2026, 9, 1), end: Date.UTC(2026, 9, 31) };
    expect(iso(focusEstimates.cursorAfter(context(), days))).toBe('2026-10-31T00:00:00.000Z');
  });
});
