/**
 * Whole-connector tests of the `invoices` stream against the fal emulator: the three-way reconciliation
 * (invoice usage lines == billing_events == usage == the emulator, per charge month, to the nano-dollar), UTC month
 * boundaries, an invoice issued after a run (picked up by the next incremental run), and a key without FOCUS reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NOFOCUS_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import {
  type CliResult,
  finalStateFile,
  records,
  runCli,
  states,
  statuses,
  tempDir,
  traces,
  writeJson,
} from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

type Row = Record<string, unknown>;

const nanoOf = (value: unknown): bigint => BigInt(Number(value));
const sum = (rows: Iterable<Row>, field: string): bigint => [...rows].reduce((acc, r) => acc + nanoOf(r[field]), 0n);
const monthOf = (instant: unknown): string => String(instant).slice(0, 7);
/** An invoice's Model APIs usage lines: fal invoices Serverless too, and a late adjustment line has no SkuId. */
const modelApiUsage = (lines: readonly Row[], billingMonth: string): Row[] =>
  lines.filter(
    (l) =>
      l.billing_month === billingMonth &&
      l.ChargeCategory === 'Usage' &&
      l.ServiceName === 'fal Model APIs' &&
      l.SkuId !== null,
  );
const byInvoiceState = (billingPeriodStart: string): unknown => [
  {
    type: 'STREAM',
    stream: { stream_descriptor: { name: 'invoices' }, stream_state: { BillingPeriodStart: billingPeriodStart } },
  },
];

/** Sums per group key. */
function groupSum(rows: Iterable<Row>, key: (row: Row) => string, value: (row: Row) => bigint): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const row of rows) out.set(key(row), (out.get(key(row)) ?? 0n) + value(row));
  return out;
}

describe('given 120 days of fal usage in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 120 * DAY).toISOString().slice(0, 10);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const run = (
    args: {
      streams?: string[];
      clock?: string;
      config?: Record<string, unknown>;
      state?: unknown;
      command?: string;
    } = {},
  ): Promise<CliResult> => {
    const tag = Math.random().toString(36).slice(2);
    const command = args.command ?? 'read';
    return runCli(
      [
        command,
        '--config',
        writeJson(dir, `config-${tag}.json`, configFor(emu.url, { start_date: startDate, ...args.config })),
        ...(command === 'read'
          ? ['--catalog', writeJson(dir, `catalog-${tag}.json`, catalogFor(args.streams ?? ['invoices']))]
          : []),
        ...(args.state ? ['--state', writeJson(dir, `state-${tag}.json`, args.state)] : []),
      ],
      { env: cliEnv(args.clock ?? FIXED_NOW) },
    );
  };

  describe('when usage, billing_events and invoices are read from start_date to now', () => {
    let result: CliResult;
    let lines: Row[];
    beforeAll(async () => {
      emu.requests.length = 0;
      result = await run({ streams: ['usage', 'billing_events', 'invoices'] });
      lines = records(result, 'invoices');
    });

    it('then it reads the invoices issued from start_date’s month on (2026-08 to 2026-11), skipping the month with none', () => {
      expect(result.code, result.stderr).toBe(0);
      expect(startDate).toBe('2026-07-28');
      expect([...new Set(lines.map((l) => l.billing_month))]).toEqual(['2026-08', '2026-09', '2026-10', '2026-11']);
      const asked = emu.requests
        .filter((r) => r.path === '/v1/account/focus')
        .map((r) => `${r.query.source?.[0]} ${r.query.billing_month?.[0]} ${r.status}`)
        // Months are read concurrently (max_concurrent_requests), so requests arrive in any order; records do not.
        .sort();
      // Billing month 2026-07 bills June, before the account's history: 404, skipped without error.
      expect(asked).toEqual([
        'invoice 2026-07 404',
        'invoice 2026-08 200',
        'invoice 2026-09 200',
        'invoice 2026-10 200',
        'invoice 2026-11 200',
      ]);
      expect(states(result, 'invoices').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-10-01T00:00:00Z',
      });
    });

    it('then each invoice’s usage lines equal its charge month’s billing_events, usage and the emulator, to the nano-dollar', () => {
      const events = records(result, 'billing_events');
      const usage = records(result, 'usage');
      // Charge months wholly inside the read range: August, September, October (billed 2026-09, -10, -11).
      for (const [billingMonth, chargeMonth] of [
        ['2026-09', '2026-08'],
        ['2026-10', '2026-09'],
        ['2026-11', '2026-10'],
      ] as const) {
        const usageLines = modelApiUsage(lines, billingMonth);
        const fromInvoice = sum(usageLines, 'billed_cost_nano_usd');
        const fromEvents = sum(
          events.filter((e) => monthOf(e.timestamp) === chargeMonth),
          'cost_estimate_nano_usd',
        );
        const fromUsage = sum(
          usage.filter((u) => monthOf(u.bucket) === chargeMonth),
          'cost_total_nano_usd',
        );
        const start = new Date(`${chargeMonth}-01T00:00:00Z`);
        const end = new Date(`${billingMonth}-01T00:00:00Z`);
        const truth = emu.truth.totalNano(ACCOUNT, start, end);
        expect([fromInvoice, fromEvents, fromUsage], `billing month ${billingMonth}`).toEqual([truth, truth, truth]);
        expect(truth).toBeGreaterThan(0n);
      }
    });

    it('then each usage line equals its charge month’s events of that endpoint, unit price and discount', () => {
      const events = records(result, 'billing_events').filter((e) => monthOf(e.timestamp) === '2026-10');
      const key = (endpoint: unknown, price: unknown, discount: unknown): string =>
        `${String(endpoint)}|${Number(price)}|${discount === null || discount === undefined ? '' : Number(discount)}`;
      const fromEvents = groupSum(
        events,
        (e) => key(e.endpoint_id, e.unit_price, e.percent_discount),
        (e) => nanoOf(e.cost_estimate_nano_usd),
      );
      const usageLines = modelApiUsage(lines, '2026-11');
      const fromInvoice = groupSum(
        usageLines,
        (l) => key(l.SkuId, l.ListUnitPrice, l.x_PercentDiscount === null ? null : Number(l.x_PercentDiscount)),
        (l) => nanoOf(l.billed_cost_nano_usd),
      );
      expect(fromInvoice).toEqual(fromEvents);
      const units = groupSum(
        events,
        (e) => key(e.endpoint_id, e.unit_price, e.percent_discount),
        (e) => BigInt(Math.round(Number(e.output_units) * 2)),
      );
      const consumed = groupSum(
        usageLines,
        (l) => key(l.SkuId, l.ListUnitPrice, l.x_PercentDiscount === null ? null : Number(l.x_PercentDiscount)),
        (l) => BigInt(Math.round(Number(l.ConsumedQuantity) * 2)),
      );
      expect(consumed).toEqual(units);
    });

    it('then every invoice totals, over all its lines including Tax and Credit, to what the emulator issued', () => {
      for (const billingMonth of ['2026-08', '2026-09', '2026-10', '2026-11']) {
        const invoice = emu.truth.invoice(ACCOUNT, billingMonth);
        const own = lines.filter((l) => l.InvoiceId === invoice?.invoiceId);
        expect(own.length).toBe(invoice?.rows.length);
        expect(sum(own, 'billed_cost_nano_usd')).toBe(invoice?.totalNano);
        expect(
          sum(
            own.filter((l) => l.ChargeCategory === 'Tax'),
            'billed_cost_nano_usd',
          ),
        ).toBe(invoice?.taxNano);
        expect(
          sum(
            own.filter((l) => l.ChargeCategory === 'Credit'),
            'billed_cost_nano_usd',
          ),
        ).toBe(-(invoice?.creditNano ?? 0n));
        expect(new Set(own.map((l) => l.billing_month))).toEqual(new Set([billingMonth]));
      }
    });

    it('then every period is a UTC month start in RFC 3339, the charge month before the billing month', () => {
      for (const line of lines) {
        const chargeMonth = new Date(
          Date.UTC(
            Number(String(line.billing_month).slice(0, 4)),
            Number(String(line.billing_month).slice(5, 7)) - 2,
            1,
          ),
        )
          .toISOString()
          .slice(0, 7);
        expect(line.BillingPeriodStart).toBe(`${chargeMonth}-01T00:00:00Z`);
        expect(line.ChargePeriodStart).toBe(`${chargeMonth}-01T00:00:00Z`);
        expect(line.BillingPeriodEnd).toBe(`${line.billing_month}-01T00:00:00Z`);
      }
    });

    it('then the requests on either side of a month’s last UTC midnight land in the invoices of their own months', () => {
      // Regression guard: a month computed in local time moves the requests of the boundary hours to the other invoice.
      const events = records(result, 'billing_events');
      const lastHourOfOctober = events.filter(
        (e) => String(e.timestamp) >= '2026-10-31T23:00:00Z' && String(e.timestamp) < '2026-11-01T00:00:00Z',
      );
      const firstHourOfNovember = events.filter(
        (e) => String(e.timestamp) >= '2026-11-01T00:00:00Z' && String(e.timestamp) < '2026-11-01T01:00:00Z',
      );
      expect(lastHourOfOctober.length).toBeGreaterThan(0);
      expect(firstHourOfNovember.length).toBeGreaterThan(0);
      const octoberInvoice = sum(modelApiUsage(lines, '2026-11'), 'billed_cost_nano_usd');
      const octoberEvents = sum(
        events.filter(
          (e) => String(e.timestamp) >= '2026-10-01T00:00:00Z' && String(e.timestamp) < '2026-11-01T00:00:00Z',
        ),
        'cost_estimate_nano_usd',
      );
      expect(octoberInvoice).toBe(octoberEvents);
      expect(octoberInvoice).not.toBe(octoberEvents - sum(lastHourOfOctober, 'cost_estimate_nano_usd'));
      expect(octoberInvoice).not.toBe(octoberEvents + sum(firstHourOfNovember, 'cost_estimate_nano_usd'));
    });

    it('then a full refresh reads the same invoices with the same ids', async () => {
      const again = await run();
      expect(records(again, 'invoices').map((l) => l.id)).toEqual(lines.map((l) => l.id));
      expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    });
  });

  describe('when the clock moves past the end of November', () => {
    const at = (instant: string): Promise<CliResult> => {
      emu.setNow(instant);
      return run({ clock: instant, state: byInvoiceState('2026-10-01T00:00:00Z') });
    };
    afterAll(() => {
      emu.setNow(FIXED_NOW);
    });

    it('then before the December invoice is issued the stream ends cleanly: no records, a state, no error', async () => {
      const r = await at('2026-12-04T05:59:59Z');
      expect(r.code, r.stderr).toBe(0);
      expect(records(r, 'invoices')).toEqual([]);
      expect(statuses(r, 'invoices').at(-1)).toBe('COMPLETE');
      expect(traces(r, 'ERROR')).toEqual([]);
      expect(states(r, 'invoices').at(-1)?.stream.stream_state).toEqual({ BillingPeriodStart: '2026-10-01T00:00:00Z' });
      const logs = r.messages.filter((m) => m.type === 'LOG').map((m) => (m.log as { message: string }).message);
      expect(logs.some((m) => /not issued the invoice of billing month 2026-12 yet/.test(m))).toBe(true);
    });

    it('then once it is issued the next incremental run picks it up, reads it again while it settles, and then moves on', async () => {
      const issued = await at('2026-12-04T06:00:01Z');
      expect(issued.code, issued.stderr).toBe(0);
      const december = records(issued, 'invoices');
      expect(new Set(december.map((l) => l.billing_month))).toEqual(new Set(['2026-12']));
      expect(december.map((l) => l.BillingPeriodStart)).toEqual(december.map(() => '2026-11-01T00:00:00Z'));
      const invoice = emu.truth.invoice(ACCOUNT, '2026-12');
      expect(sum(december, 'billed_cost_nano_usd')).toBe(invoice?.totalNano);
      expect(sum(modelApiUsage(december, '2026-12'), 'billed_cost_nano_usd')).toBe(
        emu.truth.totalNano(ACCOUNT, new Date('2026-11-01T00:00:00Z'), new Date('2026-12-01T00:00:00Z')),
      );
      // Issued hours ago: the month stays open, so the next run reads it again (same ids, an upsert).
      expect(states(issued, 'invoices').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-10-01T00:00:00Z',
      });

      emu.setNow('2026-12-10T00:00:00Z');
      const settled = await run({ clock: '2026-12-10T00:00:00Z', state: finalStateFile(issued) });
      expect(records(settled, 'invoices').map((l) => l.id)).toEqual(december.map((l) => l.id));
      expect(states(settled, 'invoices').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-11-01T00:00:00Z',
      });

      const after = await run({ clock: '2026-12-10T00:00:00Z', state: finalStateFile(settled) });
      expect(after.code).toBe(0);
      expect(records(after, 'invoices')).toEqual([]);
      expect(states(after, 'invoices').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-11-01T00:00:00Z',
      });
    });
  });

  describe('when the key’s account has no FOCUS reports', () => {
    const noFocus = { api_key: NOFOCUS_ADMIN_KEY };

    it('then discover leaves invoices out with a WARN naming FOCUS reports, and check says so', async () => {
      const d = await run({ command: 'discover', config: noFocus });
      expect(d.code).toBe(0);
      const names = (
        d.messages.find((m) => m.type === 'CATALOG')?.catalog as { streams: { name: string }[] }
      ).streams.map((s) => s.name);
      expect(names).toContain('billing_events');
      expect(names).not.toContain('invoices');
      const warnings = d.messages
        .filter((m) => m.type === 'LOG' && (m.log as { level: string }).level === 'WARN')
        .map((m) => (m.log as { message: string }).message);
      // Organization streams are left out too (solo-dev is no organization root); those warnings are key_scopes.test.ts's.
      expect(warnings.filter((w) => w.startsWith('Stream invoices'))).toEqual([
        expect.stringMatching(/^Stream invoices is left out of the catalog: FOCUS reports are not enabled/),
      ]);
      const c = await run({ command: 'check', config: noFocus });
      expect(
        (
          c.messages.find((m) => m.type === 'CONNECTION_STATUS')?.connectionStatus as {
            status: string;
            message: string;
          }
        ).message,
      ).toMatch(/invoices, focus_estimates \(FOCUS reports are not enabled/);
    });

    it('then a read with invoices configured fails that stream alone with a config_error naming FOCUS reports; the others complete', async () => {
      const r = await run({
        streams: ['usage', 'billing_events', 'invoices'],
        config: { ...noFocus, start_date: '2026-11-20' },
      });
      expect(r.code).toBe(1);
      expect(statuses(r, 'invoices').at(-1)).toBe('INCOMPLETE');
      expect(statuses(r, 'usage').at(-1)).toBe('COMPLETE');
      expect(statuses(r, 'billing_events').at(-1)).toBe('COMPLETE');
      expect(records(r, 'billing_events').length).toBeGreaterThan(0);
      const errors = traces(r, 'ERROR').map(
        (t) => t.error as { message: string; failure_type: string; stream_descriptor?: { name: string } },
      );
      expect(errors).toHaveLength(1);
      expect(errors[0]?.stream_descriptor?.name).toBe('invoices');
      expect(errors[0]?.failure_type).toBe('config_error');
      expect(errors[0]?.message).toMatch(/invoices stream needs FOCUS billing reports/);
      expect(errors[0]?.message).toMatch(/FOCUS reports are not enabled for this account/);
    });
  });
});
