/**
 * Organization endpoints of the emulator: GET /v1/organization/teams, /organization/usage and
 * /organization/billing-events. Only an ADMIN key on an organization's root team may call them; any other key
 * gets 403 `authorization_error`.
 *
 * The org data is the teams' own data, so totals agree across endpoints:
 *  - `model_apis` lines aggregate each team's own model events exactly as /models/usage does for that team: one
 *    line per discount rate, with percent_discount, cost_subtotal, cost_discount and cost_total, as fal's current
 *    OpenAPI (https://api.fal.ai/v1/openapi.json) describes them, beside `cost` (= cost_total here). So
 *    org_usage(team, model_apis) equals that team's own /models/usage cost_total per bucket, to the nano.
 *    With `legacyShapes` the lines have no discount fields and lines that differ only by discount merge.
 *  - `serverless` lines aggregate each team's own serverless events (serverless.ts), so they equal the team's
 *    /serverless/usage totals; `endpoint_id` names the machine type and app.
 *  - `compute` lines are dedicated machines billed by the hour, visible 15 minutes after each hour ends; they exist
 *    only here.
 *  - billing events are the union of the teams' own /models/billing-events, each with the team's `username`.
 */
import {
  type AccountModel,
  type BillingEventTruth,
  DAY_MS,
  DAY_SEC,
  dayLabel,
  type EndpointDef,
  ENDPOINTS,
  NANO_PER_USD,
  type OrganizationDef,
  ORGANIZATIONS,
  type World,
} from './data.js';
import { ApiError, DOCS_BASE, encodeCursor } from './params.js';
import { compileFilter, periodStart, type Timeframe } from './query.js';
import type { Route, RouteContext } from './routes.js';
import { Lru, requestWindow, seriesPage, type SeriesRequest, seriesRequest } from './series.js';
import { serverlessOf } from './serverless.js';

export type Product = 'model_apis' | 'serverless' | 'compute';
const PRODUCTS: readonly Product[] = ['model_apis', 'serverless', 'compute'];

/** Display names of the teams (GET /organization/teams `name`). */
const TEAM_NAMES: Readonly<Record<string, string>> = {
  acme: 'Acme Inc',
  'acme-ml': 'Acme ML',
  'acme-infra': 'Acme Infrastructure',
};

export interface TeamJson {
  username: string;
  name: string;
  is_org_root: boolean;
  created_at: string;
}

interface ComputeDef {
  readonly endpointId: string;
  readonly unit: string;
  readonly priceNano: number;
  /** Whether the machine runs in this UTC hour (dow 0 = Sunday). */
  readonly runs: (dow: number, hour: number) => boolean;
}

/** Dedicated compute per team: billed per hour, only visible through the organization usage endpoint. */
const COMPUTE: Readonly<Record<string, readonly ComputeDef[]>> = {
  'acme-infra': [
    { endpointId: 'type: gpu_1x_h100_sxm5 (trainer, prod)', unit: 'hour', priceNano: 2_490_000_000, runs: () => true },
  ],
  acme: [
    {
      endpointId: 'type: cpu_8x (notebooks, dev)',
      unit: 'hour',
      priceNano: 120_000_000,
      runs: (dow, hour) => dow >= 1 && dow <= 5 && hour >= 9 && hour < 18,
    },
  ],
};
/** A compute hour becomes visible this long after it ends. */
const COMPUTE_LAG_SEC = 15 * 60;

/** The organization whose root team is `account`, if any. */
export function orgRootedAt(account: string): OrganizationDef | undefined {
  return ORGANIZATIONS.find((o) => o.root === account);
}

function requireOrgRoot(ctx: RouteContext, docsUrl: string): OrganizationDef {
  const org = orgRootedAt(ctx.account.username);
  if (!org) {
    throw new ApiError(
      403,
      'authorization_error',
      `Organization endpoints require an Admin API key of the organization's root team; this key belongs to '${ctx.account.username}', which is not an organization root`,
      docsUrl,
    );
  }
  return org;
}

export function teamsOf(org: OrganizationDef, world: World): TeamJson[] {
  return org.teams.map((username) => ({
    username,
    name: TEAM_NAMES[username] ?? username,
    is_org_root: username === org.root,
    created_at: world.requireAccount(username).def.createdAt,
  }));
}

/** `team_username` filter: teams of the org, 400 for a team outside it. */
function selectTeams(ctx: RouteContext, org: OrganizationDef, docsUrl: string): readonly string[] {
  const wanted = ctx.params.multi('team_username');
  if (wanted === undefined) return org.teams;
  const unknown = wanted.filter((t) => !org.teams.includes(t));
  if (unknown.length > 0)
    throw new ApiError(
      400,
      'validation_error',
      `Unknown team_username for this organization: ${unknown.join(', ')}`,
      docsUrl,
    );
  return org.teams.filter((t) => wanted.includes(t));
}

/** Org-wide resolved auth labels, as fal shows them: "my-key (owner: alice)", "alice <alice@example.com>", "None". */
interface OrgAuth {
  readonly label: string;
  readonly apiKeyId: string | null;
  readonly login: string | null;
  readonly sortKey: string;
}
const NO_AUTH: OrgAuth = { label: 'None', apiKeyId: null, login: null, sortKey: '' };

function orgAuth(acct: AccountModel, identity: number): OrgAuth {
  const id = acct.identities[identity];
  if (!id) return NO_AUTH;
  if (id.kind === 'key') {
    const key = acct.keys.find((k) => k.keyId === id.apiKeyId);
    return {
      label: `${id.detail} (owner: ${key?.creatorNickname ?? acct.username})`,
      apiKeyId: id.apiKeyId,
      login: null,
      sortKey: id.sortKey,
    };
  }
  const login = id.loginUsername as string;
  return { label: `${login} <${login}@example.com>`, apiKeyId: null, login, sortKey: id.sortKey };
}

function authJson(
  auth: OrgAuth,
  withAuth: boolean,
  withStructured: boolean,
): { auth_method?: string; auth_method_structured?: Record<string, string> } {
  const out: { auth_method?: string; auth_method_structured?: Record<string, string> } = {};
  if (withAuth) out.auth_method = auth.label;
  if (withStructured) {
    const s: Record<string, string> = { detail: auth.label };
    if (auth.apiKeyId !== null) s.api_key_id = auth.apiKeyId;
    if (auth.login !== null) s.login_username = auth.login;
    out.auth_method_structured = s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compute
// ---------------------------------------------------------------------------------------------

interface ComputeHour {
  readonly tsSec: number;
  readonly def: ComputeDef;
}

function* computeHours(
  world: World,
  team: string,
  loSec: number,
  hiSec: number,
  nowSec: number,
): Generator<ComputeHour> {
  const defs = COMPUTE[team] ?? [];
  if (defs.length === 0) return;
  const from = Math.max(Math.ceil(loSec / 3600) * 3600, world.config.historyStartDay * DAY_SEC);
  for (let t = from; t < hiSec && t + 3600 + COMPUTE_LAG_SEC <= nowSec; t += 3600) {
    const day = Math.floor(t / DAY_SEC);
    const dow = (day + 4) % 7;
    const hour = Math.floor((t % DAY_SEC) / 3600);
    for (const def of defs) if (def.runs(dow, hour)) yield { tsSec: t, def };
  }
}

// ---------------------------------------------------------------------------------------------
// GET /v1/organization/usage
// ---------------------------------------------------------------------------------------------

interface OrgAgg {
  readonly username: string;
  readonly product: Product;
  readonly endpointId: string;
  readonly unit: string;
  readonly unitPriceNano: number;
  /** percent_discount; 0 = none. */
  readonly pct: number;
  readonly auth: OrgAuth;
  subNano: number;
  discNano: number;
  /** quantity = qtyNum / qtyDen */
  qtyNum: number;
  readonly qtyDen: number;
  costNano: number;
}

interface OrgUsageQuery {
  readonly loSec: number;
  readonly hiSec: number;
  readonly nowSec: number;
  readonly timeframe: Timeframe;
  readonly teams: readonly string[];
  readonly products: readonly Product[];
  readonly endpointIds: readonly string[] | undefined;
  readonly apiKeyIds: readonly string[] | undefined;
  readonly byAuth: boolean;
  readonly legacy: boolean;
}

const cmpStr = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

function compareOrg(x: OrgAgg, y: OrgAgg): number {
  return (
    cmpStr(x.username, y.username) ||
    PRODUCTS.indexOf(x.product) - PRODUCTS.indexOf(y.product) ||
    cmpStr(x.endpointId, y.endpointId) ||
    cmpStr(x.unit, y.unit) ||
    x.unitPriceNano - y.unitPriceNano ||
    x.pct - y.pct ||
    cmpStr(x.auth.sortKey, y.auth.sortKey)
  );
}

/** Every (bucket, line) of the org for a window, buckets ascending, lines in compareOrg order. */
function orgUsageLines(ctx: RouteContext, q: OrgUsageQuery): { bucketSec: number; line: OrgAgg }[] {
  const buckets = new Map<number, Map<string, OrgAgg>>();
  const add = (bucketSec: number, line: OrgAgg): void => {
    let lines = buckets.get(bucketSec);
    if (!lines) buckets.set(bucketSec, (lines = new Map()));
    const k = orgKey(line, q.legacy);
    const existing = lines.get(k);
    if (existing) mergeInto(existing, line);
    else lines.set(k, q.legacy ? { ...line, pct: 0 } : line);
  };
  const endpointOk = (id: string): boolean => q.endpointIds === undefined || q.endpointIds.includes(id);
  for (const team of q.teams) {
    const acct = ctx.world.requireAccount(team);
    if (q.products.includes('model_apis')) {
      const filter = compileFilter(acct, { endpointIds: q.endpointIds, apiKeyIds: q.apiKeyIds });
      const usage = ctx.engine.usage(acct, {
        loSec: q.loSec,
        hiSec: q.hiSec,
        nowSec: q.nowSec,
        timeframe: q.timeframe,
        filter,
        byAuth: q.byAuth,
      });
      for (const { bucketSec, line } of usage.flat) {
        const def = ENDPOINTS[line.ep] as EndpointDef;
        add(bucketSec, {
          username: team,
          product: 'model_apis',
          endpointId: def.endpointId,
          unit: def.unit,
          unitPriceNano: ctx.world.priceNano[line.ep]![line.pv]!,
          pct: line.pct,
          auth: q.byAuth ? orgAuth(acct, line.auth) : NO_AUTH,
          qtyNum: line.k,
          qtyDen: def.unitDenominator,
          subNano: Number(line.sub),
          discNano: Number(line.disc),
          costNano: Number(line.tot),
        });
      }
    }
    // Serverless and compute usage is not made with an API key, so an api_key_id filter excludes it.
    if (q.apiKeyIds !== undefined) continue;
    if (q.products.includes('serverless')) {
      for (const { bucketSec, line } of serverlessOf(ctx.world).aggregate(
        team,
        q.loSec,
        q.hiSec,
        q.nowSec,
        q.timeframe,
      )) {
        const endpointId = `sdk: ${line.machineType} (${line.app ?? 'unattributed'}${line.environment === null ? '' : `, ${line.environment}`})`;
        if (!endpointOk(endpointId)) continue;
        add(bucketSec, {
          username: team,
          product: 'serverless',
          endpointId,
          unit: 'second',
          unitPriceNano: line.unitPriceNano,
          pct: 0,
          auth: NO_AUTH,
          qtyNum: line.deciseconds,
          qtyDen: 10,
          subNano: line.totNano,
          discNano: 0,
          costNano: line.totNano,
        });
      }
    }
    if (q.products.includes('compute')) {
      for (const { tsSec, def } of computeHours(ctx.world, team, q.loSec, q.hiSec, q.nowSec)) {
        if (!endpointOk(def.endpointId)) continue;
        add(periodStart(q.timeframe, tsSec), {
          username: team,
          product: 'compute',
          endpointId: def.endpointId,
          unit: def.unit,
          unitPriceNano: def.priceNano,
          pct: 0,
          auth: NO_AUTH,
          qtyNum: 1,
          qtyDen: 1,
          subNano: def.priceNano,
          discNano: 0,
          costNano: def.priceNano,
        });
      }
    }
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .flatMap(([bucketSec, lines]) => [...lines.values()].sort(compareOrg).map((line) => ({ bucketSec, line })));
}

function orgKey(line: OrgAgg, legacy: boolean): string {
  return JSON.stringify([
    line.username,
    line.product,
    line.endpointId,
    line.unit,
    line.unitPriceNano,
    legacy ? 0 : line.pct,
    line.auth.sortKey,
  ]);
}

function mergeInto(into: OrgAgg, line: OrgAgg): void {
  into.qtyNum += line.qtyNum;
  into.subNano += line.subNano;
  into.discNano += line.discNano;
  into.costNano += line.costNano;
}

function orgLineJson(l: OrgAgg, withAuth: boolean, withStructured: boolean, legacy: boolean): Record<string, unknown> {
  const discounts = legacy
    ? {}
    : {
        percent_discount: l.pct,
        cost_subtotal: l.subNano / NANO_PER_USD,
        cost_discount: l.discNano / NANO_PER_USD,
        cost_total: l.costNano / NANO_PER_USD,
      };
  return {
    username: l.username,
    product: l.product,
    endpoint_id: l.endpointId,
    unit: l.unit,
    quantity: l.qtyNum / l.qtyDen,
    unit_price: l.unitPriceNano / NANO_PER_USD,
    ...discounts,
    cost: l.costNano / NANO_PER_USD,
    currency: 'USD',
    ...authJson(l.auth, withAuth, withStructured),
  };
}

const ORG_USAGE_DOCS = `${DOCS_BASE}/organization/usage`;
const ORG_USAGE_EXPAND = ['time_series', 'summary', 'auth_method', 'auth_method_structured'] as const;

const orgUsageCache = new WeakMap<World, Lru<{ bucketSec: number; line: OrgAgg }[]>>();

function orgUsage(ctx: RouteContext): string {
  const org = requireOrgRoot(ctx, ORG_USAGE_DOCS);
  const req: SeriesRequest<(typeof ORG_USAGE_EXPAND)[number]> = seriesRequest(
    ctx.params,
    ctx.nowMs,
    ORG_USAGE_DOCS,
    ORG_USAGE_EXPAND,
  );
  const withAuth = req.expand.includes('auth_method');
  const withStructured = req.expand.includes('auth_method_structured');
  const q: OrgUsageQuery = {
    loSec: req.loSec,
    hiSec: req.hiSec,
    nowSec: Math.floor(ctx.nowMs / 1000),
    timeframe: req.timeframe,
    teams: selectTeams(ctx, org, ORG_USAGE_DOCS),
    products: ctx.params.enumMulti('product', PRODUCTS) ?? PRODUCTS,
    endpointIds: ctx.params.multi('endpoint_id'),
    apiKeyIds: ctx.params.multi('api_key_id'),
    byAuth: withAuth || withStructured,
    legacy: ctx.legacy,
  };
  let cache = orgUsageCache.get(ctx.world);
  if (!cache) orgUsageCache.set(ctx.world, (cache = new Lru(16)));
  const flat = cache.get(JSON.stringify(q), () => orgUsageLines(ctx, q));
  return seriesPage(
    req,
    flat.map(({ bucketSec, line }) => ({ bucketSec, line: orgLineJson(line, withAuth, withStructured, q.legacy) })),
    () => {
      const sum = new Map<string, OrgAgg>();
      for (const { line } of flat) {
        const k = orgKey(line, q.legacy);
        const s = sum.get(k);
        if (s) mergeInto(s, line);
        else sum.set(k, { ...line });
      }
      return [...sum.values()].sort(compareOrg).map((l) => orgLineJson(l, withAuth, withStructured, q.legacy));
    },
  );
}

// ---------------------------------------------------------------------------------------------
// GET /v1/organization/billing-events
// ---------------------------------------------------------------------------------------------

const ORG_EVENTS_DOCS = `${DOCS_BASE}/organization/billing-events`;
/** "limited to 100 records per page". */
const ORG_EVENTS_MAX_LIMIT = 100;
const MAX_RANGE_MS = 90 * DAY_MS;

export interface OrgBillingEventTruth extends BillingEventTruth {
  /** The team that incurred the event. */
  readonly username: string;
  /** Org-wide resolved auth label, e.g. "Production Key (owner: alice)". */
  readonly org_auth_method: string;
}

/** The teams' visible events with start <= timestamp < end, as one list sorted by (timestamp, request_id). */
export function orgEvents(
  world: World,
  teams: readonly string[],
  startMs: number,
  endMs: number,
  asOfMs: number,
): OrgBillingEventTruth[] {
  const out: OrgBillingEventTruth[] = [];
  for (const team of teams) {
    const acct = world.requireAccount(team);
    const labels = acct.identities.map((_, i) => orgAuth(acct, i).label);
    for (const e of world.events(team, startMs, endMs, asOfMs)) {
      const identity = acct.identities.findIndex(
        (id) =>
          id.apiKeyId === (e.auth_method_structured.api_key_id ?? null) &&
          id.loginUsername === (e.auth_method_structured.login_username ?? null),
      );
      out.push({ ...e, username: team, org_auth_method: labels[identity] ?? 'None' });
    }
  }
  return out.sort((a, b) => a.timestampMs - b.timestampMs || cmpStr(a.request_id, b.request_id));
}

const orgEventsCache = new WeakMap<World, Lru<OrgBillingEventTruth[]>>();

function orgBillingEvents(ctx: RouteContext): string {
  const org = requireOrgRoot(ctx, ORG_EVENTS_DOCS);
  const p = ctx.params;
  const { startMs, endMs } = requestWindow(p, ctx.nowMs, ORG_EVENTS_DOCS);
  if (endMs - startMs > MAX_RANGE_MS)
    throw new ApiError(400, 'validation_error', 'Date range cannot exceed 90 days', ORG_EVENTS_DOCS);
  const limit = p.limit(ORG_EVENTS_MAX_LIMIT, ORG_EVENTS_MAX_LIMIT);
  const page = p.page();
  const expand = p.enumMulti('expand', ['auth_method', 'auth_method_structured'] as const) ?? [];
  const teams = selectTeams(ctx, org, ORG_EVENTS_DOCS);
  const endpointIds = p.multi('endpoint_id');
  const requestIds = p.multi('request_id');
  const apiKeyIds = p.multi('api_key_id');
  const sig = JSON.stringify([teams, startMs, endMs, ctx.nowMs, endpointIds, requestIds, apiKeyIds]);
  let cache = orgEventsCache.get(ctx.world);
  if (!cache) orgEventsCache.set(ctx.world, (cache = new Lru(8)));
  const all = cache.get(sig, () =>
    orgEvents(ctx.world, teams, startMs, endMs, ctx.nowMs).filter(
      (e) =>
        (endpointIds === undefined || endpointIds.includes(e.endpoint_id)) &&
        (requestIds === undefined || requestIds.includes(e.request_id)) &&
        (apiKeyIds === undefined ||
          (e.auth_method_structured.api_key_id !== undefined &&
            apiKeyIds.includes(e.auth_method_structured.api_key_id))),
    ),
  );
  const offset = (page - 1) * limit;
  const hasMore = offset + limit < all.length;
  const withAuth = expand.includes('auth_method');
  const withStructured = expand.includes('auth_method_structured');
  const rows = all.slice(offset, offset + limit).map((e) => ({
    request_id: e.request_id,
    endpoint_id: e.endpoint_id,
    timestamp: e.timestamp,
    output_units: e.output_units,
    unit_price: e.unit_price_nano / NANO_PER_USD,
    percent_discount: e.percent_discount,
    cost_subtotal: e.cost_subtotal_nano / NANO_PER_USD,
    cost_discount: e.cost_discount_nano / NANO_PER_USD,
    cost_total: e.cost_total_nano / NANO_PER_USD,
    cost_estimate_nano_usd: e.cost_total_nano,
    ...(ctx.legacy ? {} : { unit: e.unit, quantity: e.output_units, tags: e.tags }),
    username: e.username,
    ...authJson(
      {
        label: e.org_auth_method,
        apiKeyId: e.auth_method_structured.api_key_id ?? null,
        login: e.auth_method_structured.login_username ?? null,
        sortKey: '',
      },
      withAuth,
      withStructured,
    ),
  }));
  return JSON.stringify({
    billing_events: rows,
    next_cursor: hasMore ? encodeCursor(page + 1) : null,
    has_more: hasMore,
  });
}

// ---------------------------------------------------------------------------------------------
// GET /v1/organization/teams
// ---------------------------------------------------------------------------------------------

const TEAMS_DOCS = `${DOCS_BASE}/organization/teams`;

function teams(ctx: RouteContext): string {
  return JSON.stringify({ teams: teamsOf(requireOrgRoot(ctx, TEAMS_DOCS), ctx.world) });
}

// ---------------------------------------------------------------------------------------------
// Truth
// ---------------------------------------------------------------------------------------------

/** Sum of org `cost` (nano-USD) per UTC day for one team and product, as /organization/usage reports it. */
export function orgUsageNanoByDay(
  world: World,
  team: string,
  product: Product,
  startMs: number,
  endMs: number,
  asOfMs: number,
): Map<string, bigint> {
  if (product === 'model_apis') return world.usageNanoByDay(team, startMs, endMs, asOfMs);
  if (product === 'serverless') return serverlessOf(world).nanoByDay(team, startMs, endMs, asOfMs);
  const out = new Map<string, bigint>();
  for (const { tsSec, def } of computeHours(
    world,
    team,
    Math.ceil(startMs / 1000),
    Math.ceil(endMs / 1000),
    Math.floor(asOfMs / 1000),
  )) {
    const day = dayLabel(Math.floor(tsSec / DAY_SEC));
    out.set(day, (out.get(day) ?? 0n) + BigInt(def.priceNano));
  }
  return out;
}

export const ORG_ROUTES: readonly (readonly [string, Route])[] = [
  ['/v1/organization/teams', { scope: 'ADMIN', docsUrl: TEAMS_DOCS, handler: teams }],
  ['/v1/organization/usage', { scope: 'ADMIN', docsUrl: ORG_USAGE_DOCS, handler: orgUsage }],
  ['/v1/organization/billing-events', { scope: 'ADMIN', docsUrl: ORG_EVENTS_DOCS, handler: orgBillingEvents }],
];
