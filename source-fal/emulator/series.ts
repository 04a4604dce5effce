/**
 * Request parsing and paging shared by the emulator's time-series endpoints added after /models/usage
 * (/serverless/usage, /organization/usage): the same window, timezone, timeframe, bound_to_timeframe and
 * line-item pagination semantics as /models/usage (routes.ts), so every usage-type endpoint behaves alike.
 */
import { bucketLabel, DAY_MS } from './data.js';
import { ApiError, encodeCursor, type Params } from './params.js';
import { autoTimeframe, snapEndMs, snapStartMs, type Timeframe, TIMEFRAMES } from './query.js';

/** `start`/`end` with fal's defaults (last 24 h, end exclusive); start at or after end is a 400. */
export function requestWindow(params: Params, nowMs: number, docsUrl: string): { startMs: number; endMs: number } {
  const startMs = params.instant('start') ?? nowMs - DAY_MS;
  const endMs = params.instant('end') ?? nowMs;
  if (startMs >= endMs) {
    throw new ApiError(
      400,
      'validation_error',
      `start (${new Date(startMs).toISOString()}) must be before end (${new Date(endMs).toISOString()})`,
      docsUrl,
    );
  }
  return { startMs, endMs };
}

/** The price and cost fields every usage-type line carries (USD numbers; fal documents them per endpoint). */
export interface CostLineJson {
  quantity: number;
  unit_price: number;
  percent_discount: number | null;
  cost_subtotal: number;
  cost_discount: number;
  cost_total: number;
  /** The older name of cost_total, still sent. */
  cost: number;
}

export interface SeriesRequest<E extends string> {
  /** Half-open [loSec, hiSec) after bound_to_timeframe snapping. */
  readonly loSec: number;
  readonly hiSec: number;
  readonly timeframe: Timeframe;
  readonly limit: number;
  readonly page: number;
  readonly expand: readonly E[];
  readonly withSeries: boolean;
  readonly withSummary: boolean;
}

/** Parses the parameters every usage-type endpoint shares. `expandAllowed` must include time_series and summary. */
export function seriesRequest<E extends string>(
  params: Params,
  nowMs: number,
  docsUrl: string,
  expandAllowed: readonly E[],
): SeriesRequest<E> {
  const { startMs, endMs } = requestWindow(params, nowMs, docsUrl);
  const tz = params.single('timezone');
  if (tz !== undefined && tz !== 'UTC') {
    throw new ApiError(
      400,
      'validation_error',
      `Unsupported timezone '${tz}': the emulator only supports UTC`,
      docsUrl,
    );
  }
  const timeframe = params.enumSingle('timeframe', TIMEFRAMES) ?? autoTimeframe(endMs - startMs);
  const bound = params.enumSingle('bound_to_timeframe', ['true', 'false'] as const) ?? 'true';
  const limit = params.limit(50, 100);
  const page = params.page();
  const expand = params.enumMulti('expand', expandAllowed) ?? (['time_series'] as unknown as E[]);
  const withSeries = (expand as readonly string[]).includes('time_series');
  const withSummary = (expand as readonly string[]).includes('summary');
  if (!withSeries && !withSummary) {
    throw new ApiError(400, 'validation_error', 'expand must include at least one of time_series or summary', docsUrl);
  }
  const lo = bound === 'true' ? snapStartMs(timeframe, startMs) : startMs;
  const hi = bound === 'true' ? snapEndMs(timeframe, endMs) : endMs;
  return {
    loSec: Math.ceil(lo / 1000),
    hiSec: Math.ceil(hi / 1000),
    timeframe,
    limit,
    page,
    expand,
    withSeries,
    withSummary,
  };
}

/**
 * One page of a usage-type response. `flat` is every (bucket, line) pair in order; `limit` counts them, so one
 * bucket can span two pages. The summary goes on the first page only; with summary alone, `limit` pages it.
 * `toJson` renders only the lines on the page.
 */
export function seriesPage<L>(
  req: SeriesRequest<string>,
  flat: readonly { bucketSec: number; line: L }[],
  summary: () => readonly L[],
  toJson: (line: L) => unknown = (line) => line,
): string {
  const offset = (req.page - 1) * req.limit;
  const body: { time_series?: { bucket: string; results: unknown[] }[]; summary?: readonly unknown[] } = {};
  let hasMore: boolean;
  if (req.withSeries) {
    hasMore = offset + req.limit < flat.length;
    const series: { bucket: string; results: unknown[] }[] = [];
    let last = Number.NaN;
    for (const item of flat.slice(offset, offset + req.limit)) {
      if (item.bucketSec !== last) {
        series.push({ bucket: bucketLabel(item.bucketSec), results: [] });
        last = item.bucketSec;
      }
      series[series.length - 1]!.results.push(toJson(item.line));
    }
    body.time_series = series;
    if (req.withSummary && req.page === 1) body.summary = summary().map(toJson);
  } else {
    const all = summary();
    body.summary = all.slice(offset, offset + req.limit).map(toJson);
    hasMore = offset + req.limit < all.length;
  }
  return JSON.stringify({ ...body, next_cursor: hasMore ? encodeCursor(req.page + 1) : null, has_more: hasMore });
}

/** A tiny LRU for per-request results that every page of one query recomputes otherwise. */
export class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = make();
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const first = this.map.keys().next();
      if (first.done) break;
      this.map.delete(first.value);
    }
    return value;
  }
}
