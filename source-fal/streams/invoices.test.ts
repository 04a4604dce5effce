import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ApiError, ConfigError, ResponseShapeError } from '../errors.js';
import type { Window } from '../time.js';
import { INVOICE_SETTLE_DAYS } from './focus-invoice.js';
import { invoices } from './invoices.js';
import type { StreamContext, StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 10, 25, 12, 34, 56);
/** Billing month 2026-11: the invoice of October's charges. */
const NOVEMBER: Window = { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) };

const HEADER =
  'InvoiceId,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeDescription,SkuId,ListUnitPrice,ConsumedQuantity,ConsumedUnit,ListCost,EffectiveCost,BilledCost,SubAccountId,Tags,x_Region';
const USAGE_LINE =
  'INV-1,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,2026-10-01T00:00:00+00:00,2026-11-01T00:00:00+00:00,Usage,"fal-ai/flux/dev, images at ""list"" price",fal-ai/flux/dev,0.025,1200,image,30.00,30.00,30.00,,"{""team"":""ml"",""env"":""prod""}",us-east';
const TAX_LINE =
  'INV-1,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,Tax,"Sales tax\r\nCalifornia, US",,,,,0.41,0.41,0.412500001,,,';
const CREDIT_LINE =
  'INV-1,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,Credit,Promotional credit,,,,,-25.00,-25.00,-25.00,,,';

const { context, paths, logs, reply } = useFalMock({ now: NOW, startDate: '2026-09-15' });

/** Answers the next /v1/account/focus request. */
function focusReply(status: number, body: string, contentType = 'text/csv; charset=utf-8'): void {
  reply('/v1/account/focus?', { status, body, contentType, headers: { 'x-fal-request-id': 'req-42' } });
}

const csv = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;

const readWindow = (ctx: StreamContext, window: Window = NOVEMBER): Promise<StreamRecord[]> =>
  collect(invoices.readWindow(ctx, window));

const params = (path: string): Record<string, string> => Object.fromEntries(new URL(path, FAL_ORIGIN).searchParams);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('invoices.readWindow', () => {
  it('given a billing month when read then it asks for the invoice source of exactly that month', async () => {
    focusReply(200, csv(HEADER));

    await readWindow(context());

    expect(new URL(paths[0] ?? '', FAL_ORIGIN).pathname).toBe('/v1/account/focus');
    expect(params(paths[0] ?? '')).toEqual({ source: 'invoice', billing_month: '2026-11' });
  });

  it('given an RFC 4180 invoice with a BOM, quoted commas, quotes and a newline when read then one typed record per line', async () => {
    // Regression guard: splitting on newlines or commas breaks the tax line into two and shifts every column.
    focusReply(200, `\ufeff${csv(HEADER, USAGE_LINE, TAX_LINE, CREDIT_LINE)}`);

    const records = await readWindow(context());

    expect(records).toHaveLength(3);
    expect(records[0]).toEqual({
      // Golden: digest of [billing_month, InvoiceId, every column's raw text sorted by name, ordinal]. If the recipe
      // changes, every invoice line is re-keyed and duplicated in the warehouse on the next full refresh.
      id: 'ed45b89cfcca26af606a7912730e2b56',
      billing_month: '2026-11',
      InvoiceId: 'INV-1',
      BillingPeriodStart: '2026-10-01T00:00:00Z',
      BillingPeriodEnd: '2026-11-01T00:00:00Z',
      ChargePeriodStart: '2026-10-01T00:00:00Z',
      ChargePeriodEnd: '2026-11-01T00:00:00Z',
      ChargeCategory: 'Usage',
      ChargeDescription: 'fal-ai/flux/dev, images at "list" price',
      SkuId: 'fal-ai/flux/dev',
      ListUnitPrice: 0.025,
      ConsumedQuantity: 1200,
      ConsumedUnit: 'image',
      ListCost: 30,
      EffectiveCost: 30,
      BilledCost: 30,
      billed_cost_nano_usd: 30_000_000_000,
      SubAccountId: null,
      Tags: { team: 'ml', env: 'prod' },
      x_Region: 'us-east',
    });
    expect(records[1]).toMatchObject({
      ChargeCategory: 'Tax',
      ChargeDescription: 'Sales tax\r\nCalifornia, US',
      SkuId: null,
      ConsumedQuantity: null,
      Tags: null,
      x_Region: null,
    });
    expect(records[1]?.billed_cost_nano_usd).toBe(412_500_001);
    expect(records[2]).toMatchObject({
      ChargeCategory: 'Credit',
      BilledCost: -25,
      billed_cost_nano_usd: -25_000_000_000,
    });
    // Column names are kept exactly as sent.
    expect(Object.keys(records[0] ?? {})).toEqual(expect.arrayContaining(HEADER.split(',')));
  });

  it('given two identical lines when read twice then two records with distinct ids, the same on both reads', async () => {
    // An invoice may bill the same SKU at the same price twice: neither line may overwrite the other.
    focusReply(200, csv(HEADER, USAGE_LINE, USAGE_LINE, TAX_LINE));
    focusReply(200, csv(HEADER, USAGE_LINE, USAGE_LINE, TAX_LINE));

    const first = await readWindow(context());
    const second = await readWindow(context());

    expect(new Set(first.map((r) => r.id)).size).toBe(3);
    expect(second.map((r) => r.id)).toEqual(first.map((r) => r.id));
  });

  it('given the same invoice with its columns in another order when read then the ids do not change', async () => {
    const reorder = (line: string): string => {
      const fields = [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1] ?? '').slice(0, 17);
      return [...fields.slice(8), ...fields.slice(0, 8)].join(',');
    };
    focusReply(200, csv(HEADER, USAGE_LINE));
    focusReply(200, csv(reorder(HEADER), reorder(USAGE_LINE)));

    const [first] = await readWindow(context());
    const [second] = await readWindow(context());

    expect(second).toEqual(first);
  });

  it('given a line without BillingPeriodStart when read then the cursor field is the start of the charge month, never null', async () => {
    focusReply(200, csv('InvoiceId,BillingPeriodStart,BilledCost', 'INV-1,,1.50'));

    const [record] = await readWindow(context());

    expect(record).toMatchObject({
      BillingPeriodStart: '2026-10-01T00:00:00Z',
      BilledCost: 1.5,
      billed_cost_nano_usd: 1_500_000_000,
    });
  });

  it('given 404 for the current billing month when read then no records, an INFO log saying it is not issued yet, and the month stays open', async () => {
    focusReply(
      404,
      JSON.stringify({ error: { type: 'not_found', message: 'No invoice has been issued for billing month 2026-11' } }),
      'application/json',
    );
    const ctx = context();

    expect(await readWindow(ctx)).toEqual([]);

    expect(logs).toEqual([
      expect.stringMatching(/^INFO invoices: fal has not issued the invoice of billing month 2026-11 yet/),
    ]);
    // The cursor stays at September's invoice, so the next run asks for 2026-11 again.
    expect(iso(invoices.cursorAfter(ctx, NOVEMBER))).toBe('2026-09-01T00:00:00.000Z');
  });

  it('given 404 for a past billing month when read then it is skipped: no error, and the cursor moves past it', async () => {
    const august: Window = { start: Date.UTC(2026, 7, 1), end: Date.UTC(2026, 8, 1) };
    focusReply(404, JSON.stringify({ error: { type: 'not_found', message: 'No invoice' } }), 'application/json');
    const ctx = context();

    expect(await readWindow(ctx, august)).toEqual([]);

    expect(logs[0]).toMatch(/no invoice for billing month 2026-08/);
    expect(iso(invoices.cursorAfter(ctx, august))).toBe('2026-07-01T00:00:00.000Z');
  });

  it('given a 404 that is not fal’s error envelope when read then an error, not a skipped month', async () => {
    // A proxy or a wrong base_url answering 404 must not walk the cursor past every past month.
    const august: Window = { start: Date.UTC(2026, 7, 1), end: Date.UTC(2026, 8, 1) };
    focusReply(404, '<html>Not Found</html>', 'text/html');

    const error = await readWindow(context(), august).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toMatch(/check base_url/);
  });

  it('given 403 when read then a config_error that names FOCUS reports and keeps fal’s words and request id', async () => {
    // Regression guard: the generic 403 text ("needs an ADMIN-scope key") misleads an ADMIN key without FOCUS.
    focusReply(
      403,
      JSON.stringify({
        error: {
          type: 'authorization_error',
          message: 'FOCUS reports are not enabled for this account',
          request_id: 'req-7',
        },
      }),
      'application/json',
    );

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).failureType).toBe('config_error');
    expect((error as ConfigError).code).toBe('focus_not_enabled');
    expect((error as ConfigError).message).toMatch(
      /needs FOCUS billing reports.*fal says: "FOCUS reports are not enabled for this account"/,
    );
    expect((error as ConfigError).context).toEqual({ endpoint: 'GET /account/focus', status: 403, requestId: 'req-7' });
  });

  it.each([
    [
      'a cost that is not a number',
      csv(HEADER, USAGE_LINE.replace(',30.00,30.00,30.00,', ',30.00,30.00,thirty,')),
      /BilledCost is "thirty"/,
    ],
    [
      'a period that is not a date/time',
      csv(HEADER, USAGE_LINE.replace('2026-11-01T00:00:00Z', 'November')),
      /BillingPeriodEnd is "November"/,
    ],
    [
      'Tags that are not a JSON object',
      csv(HEADER, USAGE_LINE.replace('"{""team"":""ml"",""env"":""prod""}"', '"[1,2]"')),
      /Tags is not a JSON object/,
    ],
    ['a line with a missing field', csv(HEADER, USAGE_LINE.replace(',us-east', '')), /Invalid Record Length/],
    ['a quote that is never closed (a cut body)', `${HEADER}\r\n${USAGE_LINE.slice(0, 120)}`, /Quote Not Closed/],
    ['no BilledCost column', csv('InvoiceId,Cost', 'INV-1,3.00'), /no BilledCost column/],
    ['a column named twice', csv('InvoiceId,BilledCost,BilledCost', 'INV-1,1,1'), /names column "BilledCost" twice/],
    ['an empty body', '', /empty/],
  ])(
    'given %s when read then a ResponseShapeError naming the endpoint and billing month',
    async (_label, body, reason) => {
      focusReply(200, body);

      const error = await readWindow(context()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ResponseShapeError);
      expect((error as ResponseShapeError).message).toMatch(/billing month 2026-11/);
      expect((error as ResponseShapeError).message).toMatch(reason);
      expect((error as ResponseShapeError).context).toEqual({ endpoint: 'GET /account/focus', requestId: 'req-42' });
    },
  );
});

describe('invoices.windows', () => {
  const monthsOf = (ctx: StreamContext, saved: number | undefined) =>
    invoices.windows(ctx, saved).map((w) => [iso(w.start), iso(w.end)]);

  it('given no saved cursor when windowed then one window per billing month from start_date’s month to now’s', () => {
    expect(monthsOf(context(), undefined)).toEqual([
      ['2026-09-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z'],
      ['2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
      ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    ]);
  });

  it('given a saved cursor (a charge month) when windowed then it starts at the billing month after that charge month’s invoice', () => {
    // Cursor 2026-09-01 = the invoice of September's charges, billing month 2026-10, was done.
    expect(monthsOf(context(), Date.UTC(2026, 8, 1))).toEqual([
      ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    ]);
    expect(monthsOf(context(), Date.UTC(2026, 9, 1))).toEqual([]);
    expect(monthsOf(context(), Date.UTC(2099, 0, 1))).toEqual([]);
  });

  it('given a saved cursor before start_date when windowed then start_date wins', () => {
    expect(monthsOf(context({ start_date: '2026-11-10' }), Date.UTC(2026, 0, 1))).toEqual([
      ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    ]);
  });

  it('given an end_date in the past when windowed then billing months stop at end_date’s', () => {
    expect(monthsOf(context({ end_date: '2026-10-15' }), undefined).map(([start]) => start)).toEqual([
      '2026-09-01T00:00:00.000Z',
      '2026-10-01T00:00:00.000Z',
    ]);
  });
});

describe('invoices.cursorAfter', () => {
  async function readAt(now: number): Promise<StreamContext> {
    focusReply(200, csv(HEADER, USAGE_LINE));
    const ctx = context({}, now);
    await readWindow(ctx);
    return ctx;
  }

  it(`given the current month’s invoice read in its first ${INVOICE_SETTLE_DAYS} days when completed then the month stays open to be read again`, async () => {
    const ctx = await readAt(Date.UTC(2026, 10, 4, 7));
    expect(iso(invoices.cursorAfter(ctx, NOVEMBER))).toBe('2026-09-01T00:00:00.000Z');
  });

  it('given the current month’s invoice read later in the month when completed then the cursor is its charge month', async () => {
    const ctx = await readAt(NOW);
    expect(iso(invoices.cursorAfter(ctx, NOVEMBER))).toBe('2026-10-01T00:00:00.000Z');
  });

  it('given a past billing month when completed then the cursor is its charge month', () => {
    const october: Window = { start: Date.UTC(2026, 9, 1), end: Date.UTC(2026, 10, 1) };
    expect(iso(invoices.cursorAfter(context(), october))).toBe('2026-09-01T00:00:00.000Z');
  });
});
