/**
 * `focus_estimates`: fal's pre-invoice cost estimates as FOCUS line items, one record per CSV line (daily lines).
 * Endpoint: GET /v1/account/focus?source=estimate&start=…&end=… (text/csv),
 * https://fal.ai/docs/platform-apis/v1/account/focus: estimate rows are daily, "may change once invoiced", and one
 * request spans at most 90 days. Incremental by charge day (`ChargePeriodStart`) with the lookback, like `usage`;
 * the invoice of the month is in `invoices`.
 */
import { DAY_MS, floorTo, formatInstant, formatWindow, sliceWindows } from '../time.js';
import { focusPages, focusRefused, FocusValueError, MEASURE_COLUMNS } from './focus-csv.js';
import type { IncrementalStream } from './stream.js';
import { lookbackWindows } from './stream.js';

const PATH = '/account/focus';
const ENDPOINT = `GET ${PATH}`;
const NAME = 'focus_estimates';

/** Days of charges per request and checkpoint: a third of fal's 90-day cap, so a killed run repeats at most a month. */
const ESTIMATE_WINDOW_DAYS = 30;
/** How far back fal serves estimates; older days are only in the invoices. */
const ESTIMATE_MAX_AGE_DAYS = 90;

export const focusEstimates: IncrementalStream = {
  kind: 'incremental',
  name: NAME,
  primaryKey: ['id'],
  cursorField: 'ChargePeriodStart',
  requires: 'focus',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/account/focus',
  // Whole UTC days from start_date or the saved day minus lookback_days, but never before the oldest whole day fal
  // still estimates: a request for older days would be refused and fail the stream on every run.
  windows(ctx, saved) {
    const stepMs = ESTIMATE_WINDOW_DAYS * DAY_MS;
    const oldest = Math.ceil((ctx.config.nowMs - ESTIMATE_MAX_AGE_DAYS * DAY_MS) / DAY_MS) * DAY_MS;
    const windows = lookbackWindows(ctx, saved, stepMs, DAY_MS);
    const first = windows[0];
    if (first === undefined || first.start >= oldest) return windows;
    ctx.log.log(
      'INFO',
      `${NAME}: fal keeps FOCUS estimates for ${ESTIMATE_MAX_AGE_DAYS} days, so reading starts at ${formatInstant(oldest)} instead of ${formatInstant(first.start)}; the charges of earlier months are in the invoices stream.`,
    );
    return sliceWindows(oldest, ctx.config.endMs, stepMs, DAY_MS);
  },
  // The last window ends at the run's now, inside today; the cursor stays at today's start so the next run reads
  // the day whole again.
  cursorAfter(_ctx, window) {
    return floorTo(window.end, DAY_MS);
  },
  async *readWindow(ctx, window) {
    // As for usage (docs/design.md): UTC days, and the range as asked, not snapped to fal's choice of bucket.
    const query = {
      source: 'estimate',
      start: formatInstant(window.start),
      end: formatInstant(window.end),
      timeframe: 'day',
      timezone: 'UTC',
      bound_to_timeframe: 'false',
    };
    const response = await ctx.client.getText(PATH, query, [403]);
    if (response.status === 403) throw focusRefused(response, ENDPOINT, NAME);
    yield* focusPages({
      text: response.text ?? '',
      what: `FOCUS estimate CSV for ${formatWindow(window)}`,
      endpoint: ENDPOINT,
      requestId: response.requestId,
      // The id: a digest of the charge day and the line's identifying columns' raw text, measures left out so a
      // re-read day whose amounts changed updates its rows.
      unstable: MEASURE_COLUMNS,
      idParts: (record) => [record.ChargePeriodStart ?? null],
      complete(record) {
        // The cursor is never null, and without its day a line cannot be told from the same line of another day.
        if (record.ChargePeriodStart === null || record.ChargePeriodStart === undefined)
          throw new FocusValueError('a line has no ChargePeriodStart (the day it was charged)');
      },
    });
  },
};
