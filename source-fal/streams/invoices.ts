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
import { ApiError, ConfigError, ResponseShapeError } from '../errors.js';
import type { TextResponse } from '../http/client.js';
import { usdTextToNano } from '../money.js';
import { DAY_MS, formatInstant, formatMonth, monthStart, type Window } from '../time.js';
import { type FocusLine, focusLines, focusValue, FocusValueError } from './focus-csv.js';
import { digestId } from './record-id.js';
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
    if (response.status === 403) throw focusNotEnabled(response);
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
 * One record per CSV line: every column under fal's name, typed per FOCUS, plus `id` (a digest of the billing month,
 * the InvoiceId and every column's raw text, with the line's ordinal among identical lines of this invoice, so the
 * same invoice read again gives the same ids and two identical lines stay two rows), `billing_month` and
 * `billed_cost_nano_usd` (BilledCost as exact integer nano-USD, from the decimal text).
 */
async function* invoiceRecords(
  text: string,
  window: Window,
  requestId: string | undefined,
): AsyncGenerator<StreamRecord> {
  const billingMonth = formatMonth(window.start);
  const chargeMonthStart = formatInstant(monthStart(window.start, -1));
  const seen = new Map<string, number>();
  let line: FocusLine | undefined;
  let billedIndex = -1;
  try {
    for await (line of focusLines(text)) {
      const { columns, values } = line;
      if (billedIndex < 0) {
        // BilledCost is what an invoice totals on (FOCUS: its sum per InvoiceId is the amount payable).
        billedIndex = columns.indexOf('BilledCost');
        if (billedIndex < 0) throw new FocusValueError('the header has no BilledCost column');
      }
      const record: StreamRecord = {};
      const fields: [string, string][] = [];
      for (const [i, name] of columns.entries()) {
        const raw = values[i] ?? '';
        record[name] = focusValue(name, raw);
        fields.push([name, raw]);
      }
      // Identity from the raw text, independent of column order and of how we type the values.
      const content = JSON.stringify(fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const ordinal = seen.get(content) ?? 0;
      seen.set(content, ordinal + 1);
      record.id = digestId([billingMonth, record.InvoiceId ?? null, content, ordinal]);
      record.billing_month = billingMonth;
      // The cursor is never null: FOCUS requires BillingPeriodStart; should fal leave it out, it is the charge month.
      record.BillingPeriodStart ??= chargeMonthStart;
      const billed = values[billedIndex] ?? '';
      record.billed_cost_nano_usd = billed === '' ? null : (usdTextToNano(billed) ?? null);
      yield record;
    }
  } catch (error) {
    if (error instanceof ResponseShapeError) throw error;
    const where = line === undefined ? '' : ` (after CSV line ${line.line})`;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ResponseShapeError(
      `fal's FOCUS invoice CSV for billing month ${billingMonth} cannot be read${where}: ${reason}. fal may have changed the report; upgrade source-fal or report this.`,
      { endpoint: ENDPOINT, requestId },
    );
  }
}

function focusNotEnabled(response: TextResponse): ConfigError {
  const said = response.error?.message ? `; fal says: "${response.error.message}"` : '';
  return new ConfigError(
    'focus_not_enabled',
    `The invoices stream needs FOCUS billing reports, and fal refused them for this key (403${said}). FOCUS reports are an enterprise feature: ask fal to enable FOCUS reports for this account (and use an ADMIN-scope key), or remove invoices from the catalog. The other streams are not affected.`,
    { endpoint: ENDPOINT, status: 403, requestId: response.requestId },
  );
}
