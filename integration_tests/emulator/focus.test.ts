/**
 * Tests of the emulator's FOCUS endpoint (GET /v1/account/focus) over real HTTP: who may read it, when an invoice
 * exists, RFC 4180 text, and invoice money that equals the per-request events to the nano-dollar.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  FOCUS_COLUMNS,
  LATE_ADJUSTMENT_NANO,
  lateAdjustmentNano,
  nanoToDecimal,
} from '../../source-fal/emulator/focus.js';
import { ADMIN_KEY, API_KEY, NOFOCUS_ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../../source-fal/emulator/server.js';

const NOW = '2026-11-25T12:34:56Z';
const ACCOUNT = 'acme-ml';

interface Res {
  status: number;
  contentType: string;
  text: string;
}

async function focus(emu: Emulator, query: Record<string, string>, key = ADMIN_KEY): Promise<Res> {
  const url = new URL(`${emu.url}/account/focus`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const r = await fetch(url, { headers: { authorization: `Key ${key}` } });
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', text: await r.text() };
}

function rows(text: string): Record<string, string>[] {
  return parse(text, { columns: true, bom: true }) as Record<string, string>[];
}

/** Exact nano-USD of FOCUS decimal text (the emulator writes at most 9 decimals). */
function nano(text: string | undefined): bigint {
  const t = text ?? '';
  const negative = t.startsWith('-');
  const [int = '0', frac = ''] = (negative ? t.slice(1) : t).split('.');
  const value = BigInt(int) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
  return negative ? -value : value;
}

const sum = (xs: Iterable<bigint>): bigint => [...xs].reduce((a, b) => a + b, 0n);

/** Usage lines of one product; the late adjustment line (no SkuId) is apart. */
const modelApiLines = (lines: Record<string, string>[]): Record<string, string>[] =>
  lines.filter((l) => l.ChargeCategory === 'Usage' && l.ServiceName === 'fal Model APIs' && l.SkuId !== '');
const serverlessLines = (lines: Record<string, string>[]): Record<string, string>[] =>
  lines.filter((l) => l.ChargeCategory === 'Usage' && l.ServiceName === 'fal Serverless');
const lateLines = (lines: Record<string, string>[]): Record<string, string>[] =>
  lines.filter((l) => l.ChargeCategory === 'Usage' && l.SkuId === '');

describe('given the fal emulator with 130 days of history at 2026-11-25', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: NOW, historyDays: 130 });
  });
  afterAll(async () => {
    await emu.close();
  });

  describe('when a key without FOCUS reports asks for a report', () => {
    it('then an ADMIN key of a FOCUS-disabled account answers 403 naming FOCUS reports, and an API key answers 403 too', async () => {
      const disabled = await focus(emu, { source: 'estimate' }, NOFOCUS_ADMIN_KEY);
      expect(disabled.status).toBe(403);
      expect(JSON.parse(disabled.text)).toMatchObject({
        error: { type: 'authorization_error', message: expect.stringMatching(/FOCUS reports are not enabled/) },
      });
      expect((await focus(emu, { source: 'invoice', billing_month: '2026-11' }, API_KEY)).status).toBe(403);
    });
  });

  describe('when parameters are invalid', () => {
    it('then a missing source, an unknown source or a malformed billing_month answer 400 validation_error', async () => {
      const queries: Record<string, string>[] = [
        {},
        { source: 'bill' },
        { source: 'invoice', billing_month: '2026-13' },
        { source: 'invoice', billing_month: '2026-1' },
      ];
      for (const query of queries) {
        const r = await focus(emu, query);
        expect(r.status, JSON.stringify(query)).toBe(400);
        expect(JSON.parse(r.text)).toMatchObject({ error: { type: 'validation_error' } });
      }
    });
  });

  describe('when invoices are asked for around their issue time', () => {
    it('then a month is 404 before its 4th at 06:00 UTC and CSV from then on, and future or pre-history months are 404', async () => {
      const issued = emu.truth.invoiceIssuedAt('2026-11');
      expect(issued.toISOString()).toBe('2026-11-04T06:00:00.000Z');
      try {
        emu.setNow(new Date(issued.getTime() - 1000));
        const before = await focus(emu, { source: 'invoice', billing_month: '2026-11' });
        expect(before.status).toBe(404);
        expect(JSON.parse(before.text)).toMatchObject({
          error: { type: 'not_found', message: expect.stringContaining('2026-11') },
        });
        expect(emu.truth.invoice(ACCOUNT, '2026-11')).toBeUndefined();
        emu.setNow(issued);
        const after = await focus(emu, { source: 'invoice', billing_month: '2026-11' });
        expect(after.status).toBe(200);
        expect(after.contentType).toBe('text/csv; charset=utf-8');
      } finally {
        emu.setNow(NOW);
      }
      expect((await focus(emu, { source: 'invoice', billing_month: '2026-12' })).status).toBe(404);
      // History starts 2026-07-18: the invoice for June (billing month July) was never issued.
      expect((await focus(emu, { source: 'invoice', billing_month: '2026-07' })).status).toBe(404);
      expect((await focus(emu, { source: 'invoice', billing_month: '2026-08' })).status).toBe(200);
    });

    it('then charge_month asks for the invoice of the month after, and no month at all for the current one', async () => {
      const byCharge = await focus(emu, { source: 'invoice', charge_month: '2026-10' });
      const byBilling = await focus(emu, { source: 'invoice', billing_month: '2026-11' });
      expect(byCharge.text).toBe(byBilling.text);
      expect((await focus(emu, { source: 'invoice' })).text).toBe(byBilling.text);
    });
  });

  describe('when the invoice of billing month 2026-11 (October charges) is read', () => {
    let text: string;
    let lines: Record<string, string>[];
    beforeAll(async () => {
      const r = await focus(emu, { source: 'invoice', billing_month: '2026-11' });
      expect(r.status).toBe(200);
      text = r.text;
      lines = rows(text);
    });

    it('then it is RFC 4180 with CRLF line ends and fields holding commas, doubled quotes and a newline', () => {
      expect(text.split('\r\n')[0]).toBe(FOCUS_COLUMNS.join(','));
      expect(text).toContain('""committed use""');
      expect(text).toContain('"Sales tax, 8.25% of net charges\nCalifornia, US"');
      expect(text).toContain('"Promotional credit ""Builders, welcome"" (applied automatically)"');
      expect(lines.find((l) => l.ChargeCategory === 'Tax')?.ChargeDescription).toBe(
        'Sales tax, 8.25% of net charges\nCalifornia, US',
      );
      expect(JSON.parse(lines[0]?.Tags ?? '')).toEqual({ team: ACCOUNT, 'fal:endpoint': lines[0]?.SkuId });
    });

    it('then every line is of October, in UTC, with one invoice id, and tax and credit are lines too', () => {
      expect(new Set(lines.map((l) => l.InvoiceId)).size).toBe(1);
      for (const l of lines) {
        expect([l.BillingPeriodStart, l.BillingPeriodEnd, l.ChargePeriodStart, l.ChargePeriodEnd]).toEqual([
          '2026-10-01T00:00:00Z',
          '2026-11-01T00:00:00Z',
          '2026-10-01T00:00:00Z',
          '2026-11-01T00:00:00Z',
        ]);
      }
      expect(lines.filter((l) => l.ChargeCategory === 'Tax')).toHaveLength(1);
      const credit = lines.filter((l) => l.ChargeCategory === 'Credit');
      expect(credit).toHaveLength(1);
      expect(nano(credit[0]?.BilledCost)).toBeLessThan(0n);
    });

    it('then the usage lines add up to every October event to the nano-dollar, per endpoint, price and discount', () => {
      const october = [new Date('2026-10-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z')] as const;
      const usage = modelApiLines(lines);
      expect(sum(usage.map((l) => nano(l.BilledCost)))).toBe(emu.truth.totalNano(ACCOUNT, ...october));
      const byLine = new Map<string, bigint>();
      for (const e of emu.truth.events(ACCOUNT, ...october)) {
        const key = `${e.endpoint_id}|${nanoToDecimal(BigInt(e.unit_price_nano))}|${e.percent_discount ?? ''}`;
        byLine.set(key, (byLine.get(key) ?? 0n) + BigInt(e.cost_total_nano));
      }
      expect(
        new Map(usage.map((l) => [`${l.SkuId}|${l.ListUnitPrice}|${l.x_PercentDiscount}`, nano(l.BilledCost)])),
      ).toEqual(byLine);
      // The same endpoint at two discounts: SkuId alone does not identify a line.
      expect(new Set(usage.map((l) => l.SkuId)).size).toBeLessThan(usage.length);
    });

    it('then the Serverless lines add up to every October machine-second the serverless usage shows', () => {
      const october = [new Date('2026-10-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z')] as const;
      const serverless = serverlessLines(lines);
      expect(serverless.length).toBeGreaterThan(0);
      expect(sum(serverless.map((l) => nano(l.BilledCost)))).toBe(
        sum(emu.truth.serverlessNanoByDay(ACCOUNT, ...october).values()),
      );
      expect(new Set(serverless.map((l) => l.ServiceCategory))).toEqual(new Set(['AI and Machine Learning']));
    });

    it('then October, a month whose UTC index is divisible by 3, carries the one late adjustment line; September does not', () => {
      expect(lateAdjustmentNano(Date.UTC(2026, 9, 1))).toBe(LATE_ADJUSTMENT_NANO);
      expect(lateAdjustmentNano(Date.UTC(2026, 8, 1))).toBe(0n);
      expect(lateLines(lines).map((l) => nano(l.BilledCost))).toEqual([LATE_ADJUSTMENT_NANO]);
    });

    it('then the truth helper has the same totals, and the invoice total is usage + tax − credit', () => {
      const october = [new Date('2026-10-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z')] as const;
      const invoice = emu.truth.invoice(ACCOUNT, '2026-11');
      expect(invoice).toBeDefined();
      expect(invoice?.invoiceId).toBe(lines[0]?.InvoiceId);
      expect(sum(lines.map((l) => nano(l.BilledCost)))).toBe(invoice?.totalNano);
      expect(invoice?.usageNano).toBe(
        emu.truth.totalNano(ACCOUNT, ...october) +
          sum(emu.truth.serverlessNanoByDay(ACCOUNT, ...october).values()) +
          LATE_ADJUSTMENT_NANO,
      );
      expect(invoice?.totalNano).toBe(
        (invoice?.usageNano ?? 0n) + (invoice?.taxNano ?? 0n) - (invoice?.creditNano ?? 0n),
      );
      expect(invoice?.taxNano).toBe((((invoice?.usageNano ?? 0n) - (invoice?.creditNano ?? 0n)) * 825n) / 10_000n);
    });

    it('then an event in the last second of October counts in this invoice and one in the first second of November does not', () => {
      // Month boundaries are UTC: a local-time month would shift a slice of events between invoices.
      const lastHour = [
        ...emu.truth.events(ACCOUNT, new Date('2026-10-31T23:00:00Z'), new Date('2026-11-01T00:00:00Z')),
      ];
      const firstHour = [
        ...emu.truth.events(ACCOUNT, new Date('2026-11-01T00:00:00Z'), new Date('2026-11-01T01:00:00Z')),
      ];
      expect(lastHour.length).toBeGreaterThan(0);
      expect(firstHour.length).toBeGreaterThan(0);
      const oct = emu.truth.totalNano(ACCOUNT, new Date('2026-10-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z'));
      const octPlusHour = emu.truth.totalNano(
        ACCOUNT,
        new Date('2026-10-01T00:00:00Z'),
        new Date('2026-11-01T01:00:00Z'),
      );
      const usage = sum(modelApiLines(lines).map((l) => nano(l.BilledCost)));
      expect(usage).toBe(oct);
      expect(usage).not.toBe(octPlusHour);
    });
  });

  describe('when estimates are read', () => {
    it('then lines per UTC day equal the visible events of that day, tagged-estimate adds Tags, and more than 90 days is refused', async () => {
      const query = { start: '2026-11-20T00:00:00Z', end: '2026-11-25T00:00:00Z' };
      const estimate = rows((await focus(emu, { source: 'estimate', ...query })).text);
      const byDay = new Map<string, bigint>();
      for (const l of estimate) {
        expect(l.InvoiceId).toBe('');
        expect(l.Tags).toBe('');
        const day = (l.ChargePeriodStart ?? '').slice(0, 10);
        byDay.set(day, (byDay.get(day) ?? 0n) + nano(l.BilledCost));
      }
      expect(byDay).toEqual(emu.truth.usageNanoByDay(ACCOUNT, new Date(query.start), new Date(query.end)));
      const tagged = rows((await focus(emu, { source: 'tagged-estimate', ...query })).text);
      expect(tagged.length).toBe(estimate.length);
      for (const l of tagged) expect(JSON.parse(l.Tags ?? '')).toMatchObject({ team: ACCOUNT });
      expect(
        (await focus(emu, { source: 'estimate', start: '2026-08-01T00:00:00Z', end: '2026-11-01T00:00:00Z' })).status,
      ).toBe(400);
    });
  });
});
