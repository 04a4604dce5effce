import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ConfigError } from '../errors.js';
import type { Window } from '../time.js';
import { invoices } from './invoices.js';
import { orgFocus } from './org_focus.js';
import type { StreamContext, StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 10, 25, 12, 34, 56);
/** Billing month 2026-11: the organization's invoice of October's charges. */
const NOVEMBER: Window = { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) };

const HEADER =
  'InvoiceId,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ChargeDescription,SkuId,BilledCost,SubAccountId,SubAccountName';
const line = (team: string, name: string, cost: string): string =>
  `INV-${team},2026-10-01T00:00:00Z,2026-10-01T00:00:00Z,Usage,"fal-ai/flux/dev, images",fal-ai/flux/dev,${cost},${team},"${name}"`;

const { context, paths, logs, reply } = useFalMock({ now: NOW, startDate: '2026-09-15' });

function focusReply(path: string, status: number, body: string, contentType = 'text/csv; charset=utf-8'): void {
  reply(`${path}?`, { status, body, contentType, headers: { 'x-fal-request-id': 'req-42' } });
}
const csv = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const readWindow = (ctx: StreamContext, window: Window = NOVEMBER): Promise<StreamRecord[]> =>
  collect(orgFocus.readWindow(ctx, window));
const iso = (ms: number): string => new Date(ms).toISOString();

describe('org_focus.readWindow', () => {
  it('given a billing month when read then it asks the organization endpoint for that month’s invoice, one record per line with its team', async () => {
    focusReply(
      '/v1/organization/focus',
      200,
      csv(HEADER, line('acme', 'Acme Inc', '12.50'), line('acme-ml', 'Acme ML', '12.50')),
    );

    const records = await readWindow(context());

    const url = new URL(paths[0] ?? '', FAL_ORIGIN);
    expect(url.pathname).toBe('/v1/organization/focus');
    expect(Object.fromEntries(url.searchParams)).toEqual({ source: 'invoice', billing_month: '2026-11' });
    expect(records.map((r) => [r.SubAccountId, r.SubAccountName, r.billed_cost_nano_usd, r.billing_month])).toEqual([
      ['acme', 'Acme Inc', 12_500_000_000, '2026-11'],
      ['acme-ml', 'Acme ML', 12_500_000_000, '2026-11'],
    ]);
    // Two teams' lines alike but for the team: two rows.
    expect(new Set(records.map((r) => r.id)).size).toBe(2);
  });

  it('given 403 when read then a config_error naming org_focus and the organization root key it needs', async () => {
    focusReply(
      '/v1/organization/focus',
      403,
      JSON.stringify({ error: { type: 'authorization_error', message: 'not an organization root' } }),
      'application/json',
    );

    const error = await readWindow(context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(
      /^The org_focus stream needs an ADMIN key of the organization's root team, with FOCUS billing reports.*fal says: "not an organization root".*remove org_focus from the catalog/,
    );
    expect((error as ConfigError).context).toMatchObject({ endpoint: 'GET /organization/focus', status: 403 });
  });

  it('given 404 for the current billing month when read then no records and an INFO naming org_focus', async () => {
    focusReply(
      '/v1/organization/focus',
      404,
      JSON.stringify({ error: { type: 'not_found', message: 'No invoice' } }),
      'application/json',
    );

    expect(await readWindow(context())).toEqual([]);

    expect(logs).toEqual([
      expect.stringMatching(/^INFO org_focus: fal has not issued the invoice of billing month 2026-11 yet/),
    ]);
  });
});

describe('org_focus.cursorAfter', () => {
  it('given only invoices read the current month in full when org_focus completes the month unread then it stays open', async () => {
    // Regression guard: one "read in full" record shared by the two streams would close org_focus's month unread.
    focusReply('/v1/account/focus', 200, csv(HEADER, line('acme', 'Acme Inc', '1.00')));
    const ctx = context();
    await collect(invoices.readWindow(ctx, NOVEMBER));

    expect(iso(invoices.cursorAfter(ctx, NOVEMBER))).toBe('2026-10-01T00:00:00.000Z');
    expect(iso(orgFocus.cursorAfter(ctx, NOVEMBER))).toBe('2026-09-01T00:00:00.000Z');
  });
});
