/**
 * Streams of fal's FOCUS invoices, one record per line item (usage, tax, credit, …): `invoices` (the account's,
 * GET /v1/account/focus) and `org_focus` (an organization's, GET /v1/organization/focus), both with
 * `source=invoice&billing_month=YYYY-MM` (text/csv), https://fal.ai/docs/platform-apis/v1/account/focus.
 * fal has no JSON invoice API.
 *
 * Windows are billing months, the months invoices are issued in; the invoice of billing month M bills the charges
 * of M − 1 (arrears), so its lines carry BillingPeriodStart = the start of M − 1. The state cursor is that
 * BillingPeriodStart: the charge month of the last invoice the stream is done with. A billing month is done once
 * it is over, or once its invoice has been read and the month is INVOICE_SETTLE_DAYS old; until then every run
 * asks for it again (fal issues invoices days into the month, and answers 404 until it has).
 */
import { isFalNotFound } from '../http/client.js';
import { DAY_MS, formatInstant, formatMonth, monthStart, type Window } from '../time.js';
import { focusPages, focusRefused } from './focus-csv.js';
import type { Capability, IncrementalStream, StreamContext } from './stream.js';

/**
 * Days into its billing month after which a read invoice is final for this connector. Before that every run reads
 * the month again, so anything fal adds in the days after it first issues the invoice still arrives.
 */
export const INVOICE_SETTLE_DAYS = 7;

export interface InvoiceStreamOptions {
  readonly name: string;
  /** Under /v1, e.g. `/account/focus`. */
  readonly path: string;
  readonly requires: Capability;
  readonly docsUrl: string;
  /** What a 403 means the key lacks, in the user's words (focusRefused). */
  readonly needs?: string;
}

export function invoiceStream(options: InvoiceStreamOptions): IncrementalStream {
  const { name, path } = options;
  const endpoint = `GET ${path}`;
  /** Per run (a StreamContext lives for one command): the billing months whose invoice was read in full. */
  const readInFull = new WeakMap<StreamContext, Set<number>>();
  const markReadInFull = (ctx: StreamContext, window: Window): void => {
    const months = readInFull.get(ctx) ?? new Set<number>();
    months.add(window.start);
    readInFull.set(ctx, months);
  };
  return {
    kind: 'incremental',
    name,
    primaryKey: ['id'],
    cursorField: 'BillingPeriodStart',
    requires: options.requires,
    docsUrl: options.docsUrl,
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
      const response = await ctx.client.getText(path, { source: 'invoice', billing_month: billingMonth }, [403, 404]);
      if (response.status === 403) throw focusRefused(response, endpoint, name, options.needs);
      // Only fal's own "not issued" answer may be skipped; a bare 404 must not advance the cursor (isFalNotFound throws).
      if (isFalNotFound(response, endpoint)) {
        const current = window.start >= monthStart(ctx.config.nowMs);
        ctx.log.log(
          'INFO',
          current
            ? `${name}: fal has not issued the invoice of billing month ${billingMonth} yet (${formatMonth(monthStart(window.start, -1))} charges); the next run asks again.`
            : `${name}: fal has no invoice for billing month ${billingMonth} (no ${formatMonth(monthStart(window.start, -1))} charges to bill); skipped.`,
        );
        return;
      }
      const chargeMonthStart = formatInstant(monthStart(window.start, -1));
      yield* focusPages({
        text: response.text ?? '',
        what: `FOCUS invoice CSV for billing month ${billingMonth}`,
        endpoint,
        requestId: response.requestId,
        // The id: a digest of the billing month, the InvoiceId and every column's raw text (focusPages).
        idParts: (record) => [billingMonth, record.InvoiceId ?? null],
        complete(record) {
          record.billing_month = billingMonth;
          // The cursor is never null: FOCUS requires BillingPeriodStart; should fal leave it out, it is the charge month.
          record.BillingPeriodStart ??= chargeMonthStart;
        },
      });
      markReadInFull(ctx, window);
    },
  };
}
