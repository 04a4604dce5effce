/**
 * GET /v1/models/analytics and /v1/serverless/analytics for the emulator
 * (https://fal.ai/docs/platform-apis/v1/models/analytics, …/serverless/analytics): request counts and billable
 * duration per endpoint and time bucket, for the endpoint ids asked (`endpoint_id` required, 1–50), with the same
 * window, timezone, timeframe, bound_to_timeframe and line-item paging as /models/usage. Only the metrics `expand`
 * names are in a line. Serverless endpoints are `<owner>/<app>` of the caller's own apps; asking for any other
 * answers 403 for the whole call ("You must own all requested endpoints").
 *
 * Consistent with the billing events: each billed event is one successful request (`success_count` per endpoint and
 * bucket = its visible billing events); some requests also failed before being billed (4xx: `user_error_count`, 5xx:
 * `error_count`, decided per event by a hash of its request id); `request_count` is their sum;
 * `total_billable_duration` is the billed seconds (`quantity` for endpoints billed per second, else 2 s per unit).
 * For serverless, each serverless billing event is one successful request to its app, billed its machine-seconds.
 */
import { ApiError, DOCS_BASE } from './params.js';
import { periodStart } from './query.js';
import type { Route, RouteContext } from './routes.js';
import { seriesPage, type SeriesRequest, seriesRequest } from './series.js';
import { serverlessOf } from './serverless.js';

const ANALYTICS_DOCS = `${DOCS_BASE}/models/analytics`;
const SERVERLESS_ANALYTICS_DOCS = `${DOCS_BASE}/serverless/analytics`;
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

function add(out: Map<string, Counts>, key: string, failuresOf: string, seconds: number): void {
  const c = out.get(key) ?? { success: 0, userErrors: 0, errors: 0, seconds: 0 };
  const f = failures(failuresOf);
  c.success += 1;
  c.userErrors += f.user;
  c.errors += f.server;
  c.seconds += seconds;
  out.set(key, c);
}

type CountsOf = (ctx: RouteContext, req: SeriesRequest<string>, ids: ReadonlySet<string>) => Map<string, Counts>;

/** Model APIs: counts per (bucket, endpoint) of the account's visible billing events. */
const modelCounts: CountsOf = (ctx, req, ids) => {
  const out = new Map<string, Counts>();
  for (const e of ctx.world.events(ctx.account.username, req.loSec * 1000, req.hiSec * 1000, ctx.nowMs)) {
    if (!ids.has(e.endpoint_id)) continue;
    const bucket = periodStart(req.timeframe, Math.floor(e.timestampMs / 1000));
    add(out, `${bucket}|${e.endpoint_id}`, e.request_id, e.unit === 'second' ? e.output_units : 2 * e.output_units);
  }
  return out;
};

/** Serverless: counts per (bucket, `<owner>/<app>`) of the account's visible serverless events. */
const serverlessCounts: CountsOf = (ctx, req, ids) => {
  const owner = ctx.account.username;
  const foreign = [...ids].filter((id) => !id.startsWith(`${owner}/`));
  if (foreign.length > 0)
    throw new ApiError(
      403,
      'authorization_error',
      `You must own all requested endpoints: ${foreign.join(', ')}`,
      SERVERLESS_ANALYTICS_DOCS,
    );
  const out = new Map<string, Counts>();
  for (const e of serverlessOf(ctx.world).events(owner, req.loSec, req.hiSec, Math.floor(ctx.nowMs / 1000))) {
    if (e.app === null || !ids.has(`${owner}/${e.app}`)) continue;
    const bucket = periodStart(req.timeframe, e.tsSec);
    add(
      out,
      `${bucket}|${owner}/${e.app}`,
      `${e.tsSec}|${e.app}|${e.machineType}|${e.deciseconds}`,
      e.deciseconds / 10,
    );
  }
  return out;
};

function analytics(ctx: RouteContext, docs: string, countsOf: CountsOf): string {
  const ids = ctx.params.multi('endpoint_id');
  if (ids === undefined || ids.length > 50)
    throw new ApiError(400, 'validation_error', 'endpoint_id is required (1 to 50 endpoint ids)', docs);
  const req = seriesRequest(ctx.params, ctx.nowMs, docs, ['time_series', 'summary', ...METRICS] as const);
  const metrics = req.expand.filter((e): e is Metric => (METRICS as readonly string[]).includes(e));
  const counts = countsOf(ctx, req, new Set(ids));
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
  [
    '/v1/models/analytics',
    { scope: 'ADMIN', docsUrl: ANALYTICS_DOCS, handler: (ctx) => analytics(ctx, ANALYTICS_DOCS, modelCounts) },
  ],
  [
    '/v1/serverless/analytics',
    {
      scope: 'ADMIN',
      docsUrl: SERVERLESS_ANALYTICS_DOCS,
      handler: (ctx) => analytics(ctx, SERVERLESS_ANALYTICS_DOCS, serverlessCounts),
    },
  ],
];
