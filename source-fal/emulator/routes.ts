/**
 * The emulated fal Platform API endpoints. Each handler gets the caller's account and parsed query,
 * and returns a JSON body (text); errors are thrown as ApiError.
 */
import { ANALYTICS_ROUTES } from './analytics.js';
import {
  type AccountModel,
  type AuthIdentity,
  DAY_MS,
  type EndpointDef,
  ENDPOINTS,
  eventTags,
  NANO_PER_USD,
  type World,
} from './data.js';
import { FOCUS_DOCS, focusReport } from './focus.js';
import type { FixtureKey, KeyScope } from './keys.js';
import { ORG_ROUTES } from './org.js';
import { ORG_FOCUS_ROUTES } from './org-focus.js';
import { ApiError, DOCS_BASE, encodeCursor, type Params } from './params.js';
import { PRICING_ROUTES } from './pricing.js';
import { addUsageLine, compileFilter, type QueryEngine, type UsageLine } from './query.js';
import type { AuthMode, BillingEventRenderer } from './render.js';
import { type CostLineJson, requestWindow, seriesPage, seriesRequest } from './series.js';
import { SERVERLESS_ROUTES } from './serverless.js';

export interface RouteContext {
  readonly world: World;
  readonly engine: QueryEngine;
  readonly nowMs: number;
  readonly account: AccountModel;
  readonly key: FixtureKey;
  readonly params: Params;
  readonly renderer: BillingEventRenderer;
  /** Which version of fal's published API shapes to answer in (EmulatorOptions.legacyShapes). */
  readonly legacy: boolean;
}

export interface Route {
  readonly scope: KeyScope;
  readonly docsUrl: string;
  /** The JSON body of a 200 response, or a body with its callback to run once sent and/or its content type (default JSON). */
  readonly handler: (
    ctx: RouteContext,
  ) => string | { body: Buffer | string; onSent?: () => void; contentType?: string };
}

const MAX_BILLING_RANGE_MS = 90 * DAY_MS;

function nextCursor(page: number, hasMore: boolean): string {
  return `"next_cursor":${hasMore ? JSON.stringify(encodeCursor(page + 1)) : 'null'},"has_more":${hasMore}`;
}

// ---------------------------------------------------------------------------------------------
// GET /v1/models/billing-events
// ---------------------------------------------------------------------------------------------

const BILLING_EVENTS_DOCS = `${DOCS_BASE}/models/billing-events`;

function billingEvents(ctx: RouteContext): { body: Buffer; onSent: () => void } {
  const p = ctx.params;
  const { startMs, endMs } = requestWindow(ctx.params, ctx.nowMs, BILLING_EVENTS_DOCS);
  if (endMs - startMs > MAX_BILLING_RANGE_MS) {
    throw new ApiError(400, 'validation_error', 'Date range cannot exceed 90 days', BILLING_EVENTS_DOCS);
  }
  const limit = p.limit(100, 10_000);
  const page = p.page();
  const expand = p.enumMulti('expand', ['auth_method', 'auth_method_structured'] as const) ?? [];
  const filter = compileFilter(ctx.account, {
    endpointIds: p.multi('endpoint_id'),
    requestIds: p.multi('request_id'),
    apiKeyIds: p.multi('api_key_id'),
    loginUsernames: p.multi('login_username'),
  });
  const nowSec = Math.floor(ctx.nowMs / 1000);
  const offset = (page - 1) * limit;
  const res = ctx.engine.billingEvents(ctx.account, {
    loSec: Math.ceil(startMs / 1000),
    hiSec: Math.ceil(endMs / 1000),
    nowSec,
    filter,
    offset: Number.isSafeInteger(offset) ? offset : Number.MAX_SAFE_INTEGER,
    limit,
  });
  const mode = ((expand.includes('auth_method') ? 1 : 0) |
    (expand.includes('auth_method_structured') ? 2 : 0)) as AuthMode;
  const { body, backing } = ctx.renderer.render(
    ctx.account,
    res.chunks,
    mode,
    '{"billing_events":[',
    '],' + nextCursor(page, res.hasMore) + '}',
  );
  return { body, onSent: () => ctx.renderer.release(backing) };
}

// ---------------------------------------------------------------------------------------------
// GET /v1/models/usage
// ---------------------------------------------------------------------------------------------

const USAGE_DOCS = `${DOCS_BASE}/models/usage`;
const USAGE_EXPAND = ['time_series', 'summary', 'auth_method', 'auth_method_structured'] as const;

interface UsageLineJson extends CostLineJson {
  endpoint_id: string;
  unit: string;
  currency: string;
  auth_method?: string;
  auth_method_structured?: { detail: string; api_key_id?: string; login_username?: string };
  tags?: Record<string, string>;
}

/**
 * `source=tagged-estimate`: the same lines with each line's cost-allocation tags (`{}` for requests that set none),
 * split by tags. fal's tagged aggregate lags the estimate; the emulator shows the tagged figures as of
 * TAGGED_LAG_SEC ago, so the newest hours appear in `estimate` first.
 */
const TAGGED_LAG_SEC = 3 * 3600;

interface TaggedItem {
  bucketSec: number;
  line: UsageLine;
  tags: Record<string, string>;
}

/** Adds an item to the line of its key (exact nano sums), or starts that line with a copy of it. */
function mergeInto(lines: Map<string, TaggedItem>, key: string, item: TaggedItem): void {
  const seen = lines.get(key);
  if (seen === undefined) {
    lines.set(key, { ...item, line: { ...item.line } });
    return;
  }
  addUsageLine(seen.line, item.line);
}

/** Whole-window lines of tagged items: the same grain without the bucket. */
function summarize(items: readonly TaggedItem[]): TaggedItem[] {
  const out = new Map<string, TaggedItem>();
  for (const { line, tags } of items) {
    const key = `${line.ep}|${line.pv}|${line.pct}|${line.auth}|${JSON.stringify(tags)}`;
    mergeInto(out, key, { bucketSec: 0, line, tags });
  }
  return [...out.values()];
}

/** Lines (grouped by auth) → lines with tags, merged across auth methods unless `keepAuth`, kept if they match `tag`. */
function tagLines(
  acct: AccountModel,
  flat: readonly { bucketSec: number; line: UsageLine }[],
  keepAuth: boolean,
  tagFilter: readonly string[] | undefined,
): TaggedItem[] {
  const merged = new Map<string, TaggedItem>();
  for (const { bucketSec, line } of flat) {
    const identity = acct.identities[line.auth] as AuthIdentity;
    const tags = eventTags(ENDPOINTS[line.ep] as EndpointDef, identity.kind === 'key');
    if (tagFilter !== undefined && !tagFilter.some((t) => Object.entries(tags).some(([k, v]) => t === `${k}:${v}`)))
      continue;
    const auth = keepAuth ? line.auth : -1;
    const key = `${bucketSec}|${line.ep}|${line.pv}|${line.pct}|${auth}|${JSON.stringify(tags)}`;
    mergeInto(merged, key, { bucketSec, line: { ...line, auth }, tags });
  }
  return [...merged.values()];
}

function usageLineJson(
  world: World,
  acct: AccountModel,
  l: UsageLine,
  withAuth: boolean,
  withStructured: boolean,
): UsageLineJson {
  const def = ENDPOINTS[l.ep] as EndpointDef;
  const total = Number(l.tot) / NANO_PER_USD;
  const out: UsageLineJson = {
    endpoint_id: def.endpointId,
    unit: def.unit,
    quantity: l.k / def.unitDenominator,
    unit_price: world.priceNano[l.ep]![l.pv]! / NANO_PER_USD,
    percent_discount: l.pct === 0 ? null : l.pct,
    cost_subtotal: Number(l.sub) / NANO_PER_USD,
    cost_discount: Number(l.disc) / NANO_PER_USD,
    cost_total: total,
    cost: total,
    currency: 'USD',
  };
  if (l.auth >= 0) {
    const id = acct.identities[l.auth] as AuthIdentity;
    if (withAuth) out.auth_method = id.detail;
    if (withStructured) {
      out.auth_method_structured =
        id.kind === 'key'
          ? { detail: id.detail, api_key_id: id.apiKeyId as string }
          : { detail: id.detail, login_username: id.loginUsername as string };
    }
  }
  return out;
}

/**
 * Pagination: `limit` counts line items. With time_series, the (bucket, line) pairs are flattened in
 * order (bucket asc, endpoint_id, unit, unit_price, percent_discount, auth method), sliced, and
 * regrouped, so one bucket can span two pages; `summary` (whole window) is sent on the first page only.
 * With summary alone, `limit` pages through the summary lines.
 */
function usage(ctx: RouteContext): string {
  const p = ctx.params;
  const req = seriesRequest(p, ctx.nowMs, USAGE_DOCS, USAGE_EXPAND);
  const withAuth = req.expand.includes('auth_method');
  const withStructured = req.expand.includes('auth_method_structured');
  const source = p.enumSingle('source', ['estimate', 'tagged-estimate'] as const) ?? 'estimate';
  const tagged = source === 'tagged-estimate';
  const filter = compileFilter(ctx.account, {
    endpointIds: p.multi('endpoint_id'),
    apiKeyIds: p.multi('api_key_id'),
    loginUsernames: p.multi('login_username'),
  });
  const result = ctx.engine.usage(ctx.account, {
    loSec: req.loSec,
    hiSec: req.hiSec,
    nowSec: Math.floor(ctx.nowMs / 1000) - (tagged ? TAGGED_LAG_SEC : 0),
    timeframe: req.timeframe,
    filter,
    // Tags follow the request's auth (API key or web UI), so tagged lines are built from lines by auth.
    byAuth: tagged || withAuth || withStructured,
  });
  const items: TaggedItem[] = tagged
    ? tagLines(ctx.account, result.flat, withAuth || withStructured, p.multi('tag'))
    : result.flat.map(({ bucketSec, line }) => ({ bucketSec, line, tags: {} }));
  return seriesPage(
    req,
    items.map((item) => ({ bucketSec: item.bucketSec, line: item })),
    () => (tagged ? summarize(items) : result.summary.map((line) => ({ bucketSec: 0, line, tags: {} }))),
    (item): UsageLineJson => ({
      ...usageLineJson(ctx.world, ctx.account, item.line, withAuth, withStructured),
      ...(tagged ? { tags: item.tags } : {}),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// GET /v1/account/billing
// ---------------------------------------------------------------------------------------------

const BILLING_DOCS = `${DOCS_BASE}/account/billing`;

function accountBilling(ctx: RouteContext): string {
  const expand = ctx.params.enumMulti('expand', ['credits'] as const) ?? [];
  const out: { username: string; credits?: { current_balance: number; currency: string } } = {
    username: ctx.account.username,
  };
  if (expand.includes('credits')) {
    out.credits = { current_balance: ctx.world.creditsCents(ctx.account.username) / 100, currency: 'USD' };
  }
  return JSON.stringify(out);
}

// ---------------------------------------------------------------------------------------------
// GET /v1/keys
// ---------------------------------------------------------------------------------------------

const KEYS_DOCS = `${DOCS_BASE}/keys/list`;

function keys(ctx: RouteContext): string {
  const p = ctx.params;
  const limit = p.limit(50, 100);
  const page = p.page();
  const expand = p.enumMulti('expand', ['creator_info'] as const) ?? [];
  const all = ctx.account.keys;
  const offset = (page - 1) * limit;
  const slice = all.slice(offset, offset + limit);
  const hasMore = offset + limit < all.length;
  const rows = slice.map((k) => {
    const row: {
      key_id: string;
      alias: string;
      scope: string;
      created_at: string;
      creator_nickname?: string;
      creator_email?: string;
    } = {
      key_id: k.keyId,
      alias: k.alias,
      scope: k.scope,
      created_at: k.createdAt,
    };
    if (expand.includes('creator_info')) {
      row.creator_nickname = k.creatorNickname;
      row.creator_email = k.creatorEmail;
    }
    return row;
  });
  return JSON.stringify({ keys: rows, next_cursor: hasMore ? encodeCursor(page + 1) : null, has_more: hasMore });
}

export const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/v1/models/usage', { scope: 'ADMIN', docsUrl: USAGE_DOCS, handler: usage }],
  ['/v1/models/billing-events', { scope: 'ADMIN', docsUrl: BILLING_EVENTS_DOCS, handler: billingEvents }],
  ['/v1/account/billing', { scope: 'ADMIN', docsUrl: BILLING_DOCS, handler: accountBilling }],
  ['/v1/keys', { scope: 'ADMIN', docsUrl: KEYS_DOCS, handler: keys }],
  ['/v1/account/focus', { scope: 'ADMIN', docsUrl: FOCUS_DOCS, handler: focusReport }],
  ...SERVERLESS_ROUTES,
  ...ORG_ROUTES,
  ...ORG_FOCUS_ROUTES,
  ...PRICING_ROUTES,
  ...ANALYTICS_ROUTES,
]);
