/**
 * `invoices`: fal's finalized invoices, one record per FOCUS line item (usage, tax, credit, …).
 * Endpoint: GET /v1/account/focus?source=invoice&billing_month=YYYY-MM (text/csv),
 * https://fal.ai/docs/platform-apis/v1/account/focus. fal has no JSON invoice API.
 *
 * Windows are billing months, the months invoices are issued in; the invoice of billing month M bills the charges
 * of M − 1 (arrears), so its lines carry BillingPeriodStart = the start of M − 1. The state cursor is that
 * BillingPeriodStart: the charge month of the last invoice the stream is done with. A billing month is done once
 * it is over, or once its invoice has been read and the month is INVOICE_SETTLE_DAYS old; until then every run
 * asks for it again (fal issues invoices days into the month, and answers 404 until it has).
 */
import { ApiError } from '../errors.js';
import { DAY_MS, formatInstant, formatMonth, monthStart, type Window } from '../time.js';
import { focusNotEnabled, focusRecords } from './focus-csv.js';
import type { IncrementalStream, StreamContext, StreamRecord } from './stream.js';

const PATH = '/account/focus';
const ENDPOINT = `GET ${PATH}`;

/**
 * Days into its billing month after which a read invoice is final for this connector. Before that every run reads
 * the month again, so anything fal adds in the days after it first issues the invoice still arrives.
 */
export const INVOICE_SETTLE_DAYS = 7;

/** Records per page handed to the sink; invoices are small, this only bounds memory for a very long one. */
const PAGE_SIZE = 1_000;

/** Per run (a StreamContext lives for one command): the billing months whose invoice was read in full. */
const readInFull = new WeakMap<StreamContext, Set<number>>();

function markReadInFull(ctx: StreamContext, window: Window): void {
  const months = readInFull.get(ctx) ?? new Set<number>();
  months.add(window.start);
  readInFull.set(ctx, months);
}

export const invoices: IncrementalStream = {
  kind: 'incremental',
  name: 'invoices',
  primaryKey: ['id'],
  cursorField: 'BillingPeriodStart',
  requires: 'focus',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/account/focus',
  // From start_date's billing month (first run), or the one after the saved charge month's invoice, to now's.
  windows(ctx, saved) {
    const first = Math.max(monthStart(ctx.config.startMs), saved === undefined ? -Infinity : monthStart(saved, 2));
    const windows: Window[] = [];
    for (let month = first; month < ctx.config.endMs; month = monthStart(month, 1))
      windows.push({ start: month, end: monthStart(month, 1) });
    return windows;
  },
  cursorAfter(ctx, window) {
    const { nowMs } = ctx.config;
    const read = readInFull.get(ctx)?.has(window.start) ?? false;
    const done = window.start < monthStart(nowMs) || (read && nowMs >= window.start + INVOICE_SETTLE_DAYS * DAY_MS);
    // Done: this invoice's charge month. Not yet: the previous invoice's, so the next run asks for this month again.
    return monthStart(window.start, done ? -1 : -2);
  },
  async *readWindow(ctx, window) {
    const billingMonth = formatMonth(window.start);
    const response = await ctx.client.getText(PATH, { source: 'invoice', billing_month: billingMonth }, [403, 404]);
    if (response.status === 403) throw focusNotEnabled('invoices', ENDPOINT, response);
    if (response.status === 404 && response.error === undefined) {
      // Only fal's own "not issued" answer may be skipped; a bare 404 (a proxy, a wrong base_url) must not advance the cursor.
      throw new ApiError(`fal answered ${ENDPOINT} with a 404 that is not fal's error envelope; check base_url.`, {
        endpoint: ENDPOINT,
        status: 404,
      });
    }
    if (response.status === 404) {
      const current = window.start >= monthStart(ctx.config.nowMs);
      ctx.log.log(
        'INFO',
        current
          ? `invoices: fal has not issued the invoice of billing month ${billingMonth} yet (${formatMonth(monthStart(window.start, -1))} charges); the next run asks again.`
          : `invoices: fal has no invoice for billing month ${billingMonth} (no ${formatMonth(monthStart(window.start, -1))} charges to bill); skipped.`,
      );
      return;
    }
    let page: StreamRecord[] = [];
    for await (const record of invoiceRecords(response.text ?? '', window, response.requestId)) {
      page.push(record);
      if (page.length >= PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
    markReadInFull(ctx, window);
    if (page.length > 0) yield page;
  },
};

/**
 * One record per CSV line (focusRecords), identified by the billing month, the InvoiceId and every column's raw
 * text, plus `billing_month`.
 */
function invoiceRecords(text: string, window: Window, requestId: string | undefined): AsyncGenerator<StreamRecord> {
  const billingMonth = formatMonth(window.start);
  const chargeMonthStart = formatInstant(monthStart(window.start, -1));
  return focusRecords(text, {
    identifying: () => true,
    idPrefix: (record) => [billingMonth, record.InvoiceId ?? null],
    complete(record) {
      record.billing_month = billingMonth;
      // The cursor is never null: FOCUS requires BillingPeriodStart; should fal leave it out, it is the charge month.
      record.BillingPeriodStart ??= chargeMonthStart;
    },
    what: `FOCUS invoice CSV for billing month ${billingMonth}`,
    endpoint: ENDPOINT,
    requestId,
  });
}
