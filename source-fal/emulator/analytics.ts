/**
 * GET /v1/models/analytics for the emulator (https://fal.ai/docs/platform-apis/v1/models/analytics): request
 * counts and billable duration per endpoint and time bucket, for the endpoint ids asked (`endpoint_id` required,
 * 1–50), with the same window, timezone, timeframe, bound_to_timeframe and line-item paging as /models/usage.
 * Only the metrics `expand` names are in a line.
 *
 * Consistent with the billing events: each billed event is one successful request (`success_count` per endpoint and
 * bucket = its visible billing events); some requests also failed before being billed (4xx: `user_error_count`, 5xx:
 * `error_count`, decided per event by a hash of its request id); `request_count` is their sum;
 * `total_billable_duration` is the billed seconds (`quantity` for endpoints billed per second, else 2 s per unit).
 */
import type { World } from './data.js';
import { ApiError, DOCS_BASE } from './params.js';
import { periodStart, type Timeframe } from './query.js';
import type { Route, RouteContext } from './routes.js';
import { seriesPage, seriesRequest } from './series.js';

const ANALYTICS_DOCS = `${DOCS_BASE}/models/analytics`;
const METRICS = [
  'request_count',
  'success_count',
  'user_error_count',
  'error_count',
  'total_billable_duration',
] as const;
type Metric = (typeof METRICS)[number];

type AnalyticsLine = { endpoint_id: string } & Partial<Record<Metric, number>>;

interface Counts {
  success: number;
  userErrors: number;
  errors: number;
  seconds: number;
}

/** A request that failed before it was billed, decided by its request id: 1 in 40 a 4xx, 1 in 97 a 5xx. */
function failures(requestId: string): { user: number; server: number } {
  let h = 0;
  for (let i = 0; i < requestId.length; i++) h = (h * 31 + requestId.charCodeAt(i)) >>> 0;
  return { user: h % 40 === 0 ? 1 : 0, server: h % 97 === 0 ? 1 : 0 };
}

/** Counts per (bucket, endpoint) of the account's visible events in [loSec, hiSec). */
function analyticsCounts(
  world: World,
  account: string,
  loSec: number,
  hiSec: number,
  nowMs: number,
  timeframe: Timeframe,
  endpointIds: ReadonlySet<string>,
): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const e of world.events(account, loSec * 1000, hiSec * 1000, nowMs)) {
    if (!endpointIds.has(e.endpoint_id)) continue;
    const key = `${periodStart(timeframe, Math.floor(e.timestampMs / 1000))}|${e.endpoint_id}`;
    const c = out.get(key) ?? { success: 0, userErrors: 0, errors: 0, seconds: 0 };
    const f = failures(e.request_id);
    c.success += 1;
    c.userErrors += f.user;
    c.errors += f.server;
    c.seconds += e.unit === 'second' ? e.output_units : 2 * e.output_units;
    out.set(key, c);
  }
  return out;
}

function analytics(ctx: RouteContext): string {
  const ids = ctx.params.multi('endpoint_id');
  if (ids === undefined || ids.length > 50)
    throw new ApiError(400, 'validation_error', 'endpoint_id is required (1 to 50 endpoint ids)', ANALYTICS_DOCS);
  const req = seriesRequest(ctx.params, ctx.nowMs, ANALYTICS_DOCS, ['time_series', 'summary', ...METRICS] as const);
  const metrics = req.expand.filter((e): e is Metric => (METRICS as readonly string[]).includes(e));
  const counts = analyticsCounts(
    ctx.world,
    ctx.account.username,
    req.loSec,
    req.hiSec,
    ctx.nowMs,
    req.timeframe,
    new Set(ids),
  );
  const line = (endpointId: string, c: Counts): AnalyticsLine => {
    const all: Record<Metric, number> = {
      request_count: c.success + c.userErrors + c.errors,
      success_count: c.success,
      user_error_count: c.userErrors,
      error_count: c.errors,
      total_billable_duration: Math.round(c.seconds * 1000) / 1000,
    };
    return { endpoint_id: endpointId, ...Object.fromEntries(metrics.map((m) => [m, all[m]])) };
  };
  const flat = [...counts]
    .map(([key, c]) => {
      const [bucket = '0', endpointId = ''] = key.split('|');
      return { bucketSec: Number(bucket), endpointId, c };
    })
    .sort(
      (a, b) => a.bucketSec - b.bucketSec || (a.endpointId < b.endpointId ? -1 : a.endpointId > b.endpointId ? 1 : 0),
    )
    .map(({ bucketSec: sec, endpointId, c }) => ({ bucketSec: sec, line: line(endpointId, c) }));
  return seriesPage(req, flat, () => {
    const total = new Map<string, Counts>();
    for (const [key, c] of counts) {
      const endpointId = key.split('|')[1] ?? '';
      const t = total.get(endpointId) ?? { success: 0, userErrors: 0, errors: 0, seconds: 0 };
      t.success += c.success;
      t.userErrors += c.userErrors;
      t.errors += c.errors;
      t.seconds += c.seconds;
      total.set(endpointId, t);
    }
    return [...total].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, c]) => line(id, c));
  });
}

export const ANALYTICS_ROUTES: readonly (readonly [string, Route])[] = [
  ['/v1/models/analytics', { scope: 'ADMIN', docsUrl: ANALYTICS_DOCS, handler: analytics }],
];
