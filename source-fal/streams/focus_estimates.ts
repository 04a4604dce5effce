/**
 * `focus_estimates`: fal's own FOCUS rows before the invoice, one record per daily line.
 * Endpoint: GET /v1/account/focus?source=estimate&start=…&end=… (text/csv), https://fal.ai/docs/platform-apis/v1/account/focus:
 * "real-time usage estimates for a date range", pre-invoice data that "may change once invoiced", with a maximum
 * 90-day lookback. Enterprise accounts with FOCUS reports only (the same capability as `invoices`).
 *
 * Windows are UTC days, read up to 30 at a time. A day's estimate grows while fal's billing catches up (up to 72 h),
 * so every run re-reads at least MIN_LOOKBACK_DAYS (or lookback_days, if longer), and never asks for more than 90
 * days back. What is finally billed is the `invoices` stream. A line's `id` comes from its identifying columns only
 * (not its amounts), so a re-read estimate updates its row.
 */
import { DAY_MS, formatInstant, sliceWindows, type Window } from '../time.js';
import { focusNotEnabled, focusRecords } from './focus-csv.js';
import type { IncrementalStream, StreamRecord } from './stream.js';

const PATH = '/account/focus';
const ENDPOINT = `GET ${PATH}?source=estimate`;
/** fal keeps estimates for 90 days; a day less leaves room for the clock. */
const MAX_LOOKBACK_DAYS = 89;
const WINDOW_DAYS = 30;
/** Days every run reads again at least: fal's billing catches up within 72 h, so a day's estimate settles by then. */
const MIN_LOOKBACK_DAYS = 7;
const PAGE_SIZE = 1_000;

/** Amounts change on a re-read; everything else identifies the line. */
const isAmount = (column: string): boolean => /(Cost|Quantity)$/.test(column);

export const focusEstimates: IncrementalStream = {
  kind: 'incremental',
  name: 'focus_estimates',
  primaryKey: ['id'],
  cursorField: 'ChargePeriodStart',
  requires: 'focus',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/account/focus',
  windows(ctx, saved) {
    const { startMs, endMs, nowMs, lookbackDays } = ctx.config;
    const oldest = Math.floor(nowMs / DAY_MS) * DAY_MS - MAX_LOOKBACK_DAYS * DAY_MS;
    const wanted =
      saved === undefined ? startMs : Math.max(startMs, saved - Math.max(lookbackDays, MIN_LOOKBACK_DAYS) * DAY_MS);
    if (wanted < oldest)
      ctx.log.log(
        'INFO',
        `focus_estimates: fal keeps estimates for 90 days, so this run starts at ${formatInstant(oldest).slice(0, 10)} (the invoices stream holds what was billed before).`,
      );
    return sliceWindows(Math.max(wanted, oldest), Math.min(endMs, nowMs), WINDOW_DAYS * DAY_MS, DAY_MS);
  },
  // A window may end inside today; the cursor stays at that day's start so the next run reads the day whole.
  cursorAfter: (_ctx, window) => Math.floor(window.end / DAY_MS) * DAY_MS,
  async *readWindow(ctx, window) {
    const response = await ctx.client.getText(
      PATH,
      { source: 'estimate', start: formatInstant(window.start), end: formatInstant(window.end), timezone: 'UTC' },
      [403],
    );
    if (response.status === 403) throw focusNotEnabled('focus_estimates', ENDPOINT, response);
    let page: StreamRecord[] = [];
    for await (const record of estimateRecords(response.text ?? '', window, response.requestId)) {
      page.push(record);
      if (page.length >= PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  },
};

function estimateRecords(text: string, window: Window, requestId: string | undefined): AsyncGenerator<StreamRecord> {
  return focusRecords(text, {
    identifying: (column) => !isAmount(column),
    idPrefix: (record) => ['estimate', record.ChargePeriodStart ?? null],
    complete(record) {
      // The cursor is never null: an estimate line without ChargePeriodStart belongs to the window it came in.
      record.ChargePeriodStart ??= formatInstant(window.start);
    },
    what: `FOCUS estimate CSV for ${formatInstant(window.start)} to ${formatInstant(window.end)}`,
    endpoint: ENDPOINT,
    requestId,
  });
}
