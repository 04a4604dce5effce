/**
 * Queries over the generated data: filters, time buckets, billing-event pages and usage aggregation.
 * Windows are half-open [loSec, hiSec) in unix seconds; `nowSec` is the emulator clock (visibility).
 */
import {
  type AccountModel,
  type AuthIdentity,
  DAY_SEC,
  type DayData,
  type EndpointDef,
  ENDPOINTS,
  MAX_LAG_SEC,
  type World,
} from './data.js';

export type Timeframe = 'minute' | 'hour' | 'day' | 'week' | 'month';
export const TIMEFRAMES: readonly Timeframe[] = ['minute', 'hour', 'day', 'week', 'month'];

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** Start (unix seconds) of the UTC period containing `sec`. Weeks start on Monday. */
export function periodStart(tf: Timeframe, sec: number): number {
  switch (tf) {
    case 'minute':
      return sec - mod(sec, 60);
    case 'hour':
      return sec - mod(sec, 3600);
    case 'day':
      return sec - mod(sec, DAY_SEC);
    case 'week': {
      const day = Math.floor(sec / DAY_SEC);
      return (day - mod(day + 3, 7)) * DAY_SEC;
    }
    case 'month': {
      const d = new Date(sec * 1000);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
    }
  }
}

/** Start of the period after the one containing `sec`. */
function nextPeriodStart(tf: Timeframe, sec: number): number {
  const s = periodStart(tf, sec);
  switch (tf) {
    case 'minute':
      return s + 60;
    case 'hour':
      return s + 3600;
    case 'day':
      return s + DAY_SEC;
    case 'week':
      return s + 7 * DAY_SEC;
    case 'month': {
      const d = new Date(s * 1000);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
    }
  }
}

/** bound_to_timeframe=true: snap start down to its period start (ms). */
export function snapStartMs(tf: Timeframe, ms: number): number {
  return periodStart(tf, Math.floor(ms / 1000)) * 1000;
}

/** bound_to_timeframe=true: snap end up to the next period start, unless already on one (ms). */
export function snapEndMs(tf: Timeframe, ms: number): number {
  const s = periodStart(tf, Math.floor(ms / 1000)) * 1000;
  return s === ms ? ms : nextPeriodStart(tf, Math.floor(ms / 1000)) * 1000;
}

/** fal's auto-detection: minute < 2 h, hour < 2 d, day < 64 d, week < 183 d, else month. */
export function autoTimeframe(rangeMs: number): Timeframe {
  const h = 3_600_000;
  if (rangeMs < 2 * h) return 'minute';
  if (rangeMs < 48 * h) return 'hour';
  if (rangeMs < 64 * 24 * h) return 'day';
  if (rangeMs < 183 * 24 * h) return 'week';
  return 'month';
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

export interface EventFilter {
  endpointIds?: readonly string[] | undefined;
  requestIds?: readonly string[] | undefined;
  apiKeyIds?: readonly string[] | undefined;
  loginUsernames?: readonly string[] | undefined;
}

export interface CompiledFilter {
  /** 1 = endpoint index allowed; null = all. */
  readonly epMask: Uint8Array | null;
  /** 1 = identity index allowed; null = all. */
  readonly authMask: Uint8Array | null;
  readonly requestIds: ReadonlySet<string> | null;
  readonly sig: string;
  readonly matchesNothing: boolean;
}

/** Each given filter restricts independently (AND across filters, OR within one). */
export function compileFilter(acct: AccountModel, f: EventFilter): CompiledFilter {
  let epMask: Uint8Array | null = null;
  let authMask: Uint8Array | null = null;
  let nothing = false;
  if (f.endpointIds) {
    const want = new Set(f.endpointIds);
    epMask = new Uint8Array(ENDPOINTS.length);
    ENDPOINTS.forEach((e, i) => {
      if (want.has(e.endpointId)) epMask![i] = 1;
    });
    if (!epMask.includes(1)) nothing = true;
  }
  if (f.apiKeyIds || f.loginUsernames) {
    const keys = f.apiKeyIds ? new Set(f.apiKeyIds) : null;
    const logins = f.loginUsernames ? new Set(f.loginUsernames) : null;
    authMask = new Uint8Array(acct.identities.length);
    acct.identities.forEach((id, i) => {
      const okKey = keys === null || (id.apiKeyId !== null && keys.has(id.apiKeyId));
      const okLogin = logins === null || (id.loginUsername !== null && logins.has(id.loginUsername));
      if (okKey && okLogin) authMask![i] = 1;
    });
    if (!authMask.includes(1)) nothing = true;
  }
  const requestIds = f.requestIds ? new Set(f.requestIds) : null;
  const sorted = (xs: readonly string[] | undefined): string[] | null => (xs ? [...new Set(xs)].sort() : null);
  const sig = JSON.stringify([
    sorted(f.endpointIds),
    sorted(f.requestIds),
    sorted(f.apiKeyIds),
    sorted(f.loginUsernames),
  ]);
  return { epMask, authMask, requestIds, sig, matchesNothing: nothing };
}

// ---------------------------------------------------------------------------------------------
// Usage lines
// ---------------------------------------------------------------------------------------------

/** An aggregated usage line (exact nano-USD sums). `auth` is -1 when auth methods are merged. */
export interface UsageLine {
  readonly ep: number;
  readonly pv: number;
  readonly pct: number;
  readonly auth: number;
  /** Sum of output_units × unitDenominator. */
  k: number;
  sub: bigint;
  disc: bigint;
  tot: bigint;
}

export interface UsageResult {
  /** Buckets in ascending order, each with its lines in deterministic order; empty buckets omitted. */
  readonly buckets: readonly { readonly bucketSec: number; readonly lines: readonly UsageLine[] }[];
  /** Flattened (bucket, line) pairs in the same order: what `limit` counts. */
  readonly flat: readonly { readonly bucketSec: number; readonly line: UsageLine }[];
  /** Whole-window aggregate, same grain without the bucket. */
  readonly summary: readonly UsageLine[];
}

interface DayAcc {
  k: number;
  sub: number;
  disc: number;
  tot: number;
}
type DayAgg = Map<number, Map<number, DayAcc>>;

/** Adds `line`'s quantity and exact nano-USD costs to `into` (same grain). */
export function addUsageLine(into: UsageLine, line: UsageLine): void {
  into.k += line.k;
  into.sub += line.sub;
  into.disc += line.disc;
  into.tot += line.tot;
}

function lineKey(ep: number, pv: number, pct: number, auth: number): number {
  return ((ep * 4 + pv) * 128 + pct) * 256 + (auth + 1);
}
function decodeKey(key: number): { ep: number; pv: number; pct: number; auth: number } {
  return {
    auth: (key % 256) - 1,
    pct: Math.floor(key / 256) % 128,
    pv: Math.floor(key / 32768) % 4,
    ep: Math.floor(key / 131072),
  };
}

// ---------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------

export interface BillingEventsQuery {
  loSec: number;
  hiSec: number;
  nowSec: number;
  filter: CompiledFilter;
  offset: number;
  limit: number;
}

export interface BillingEventsPage {
  /** Selected rows per day, in order. */
  readonly chunks: { readonly dd: DayData; readonly idx: number[] }[];
  readonly hasMore: boolean;
}

export interface UsageQuery {
  loSec: number;
  hiSec: number;
  nowSec: number;
  timeframe: Timeframe;
  filter: CompiledFilter;
  /** Group by auth method (expand has auth_method or auth_method_structured). */
  byAuth: boolean;
}

function lowerBound(a: Uint32Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function setLru<K, V>(m: Map<K, V>, k: K, v: V, max: number): void {
  m.delete(k);
  m.set(k, v);
  while (m.size > max) {
    const first = m.keys().next();
    if (first.done) break;
    m.delete(first.value);
  }
}

export class QueryEngine {
  private readonly countCache = new Map<string, number>();
  private readonly hintCache = new Map<string, { day: number; pos: number }>();
  private readonly dayAggCache = new Map<string, DayAgg>();
  private readonly usageCache = new Map<string, UsageResult>();

  constructor(readonly world: World) {}

  /** Index range [a, b) of a day's events with lo <= ts < hi. */
  private range(dd: DayData, lo: number, hi: number): [number, number] {
    const a = lo <= dd.dayStartSec ? 0 : lowerBound(dd.ts, dd.n, lo);
    const b = hi >= dd.dayStartSec + DAY_SEC ? dd.n : lowerBound(dd.ts, dd.n, hi);
    return [a, b];
  }

  private countMatches(dd: DayData, a: number, b: number, nowSec: number, f: CompiledFilter): number {
    const closed = nowSec >= dd.dayStartSec + DAY_SEC + MAX_LAG_SEC;
    if (closed && f.epMask === null && f.authMask === null && f.requestIds === null) return b - a;
    const key = `${dd.account}|${dd.day}|${a}|${b}|${closed ? 'c' : nowSec}|${f.sig}`;
    const hit = this.countCache.get(key);
    if (hit !== undefined) return hit;
    let c = 0;
    for (let i = a; i < b; i++) if (this.matches(dd, i, nowSec, f)) c++;
    setLru(this.countCache, key, c, 50_000);
    return c;
  }

  private matches(dd: DayData, i: number, nowSec: number, f: CompiledFilter): boolean {
    if (dd.rec[i]! > nowSec) return false;
    if (f.epMask !== null && f.epMask[dd.ep[i]!] === 0) return false;
    if (f.authMask !== null && f.authMask[dd.auth[i]!] === 0) return false;
    if (f.requestIds !== null && !f.requestIds.has(this.world.requestIds(dd)[i]!)) return false;
    return true;
  }

  /** Rows [offset, offset+limit) of the visible, filtered events in the window, and whether more follow. */
  billingEvents(acct: AccountModel, q: BillingEventsQuery): BillingEventsPage {
    const { filter: f, nowSec } = q;
    const chunks: { dd: DayData; idx: number[] }[] = [];
    const lo = q.loSec;
    const hi = Math.min(q.hiSec, nowSec + 1); // nothing with timestamp > now is visible
    if (f.matchesNothing || lo >= hi) return { chunks, hasMore: false };
    const firstDay = Math.max(Math.floor(lo / DAY_SEC), this.world.config.historyStartDay);
    const lastDay = Math.floor((hi - 1) / DAY_SEC);
    const sig = `${acct.username}|${lo}|${hi}|${nowSec}|${f.sig}`;

    let d = firstDay;
    let resumePos = -1;
    let skip = q.offset;
    const hint = this.hintCache.get(`${sig}|${q.offset}`);
    if (hint) {
      d = hint.day;
      resumePos = hint.pos;
      skip = 0;
    }
    let need = q.limit;
    const plain = f.epMask === null && f.authMask === null && f.requestIds === null;
    for (; d <= lastDay; d++, resumePos = -1) {
      const dd = this.world.day(acct, d);
      const [a, b] = this.range(dd, lo, hi);
      if (a >= b) continue;
      if (skip > 0 && resumePos < 0) {
        const cnt = this.countMatches(dd, a, b, nowSec, f);
        if (cnt <= skip) {
          skip -= cnt;
          continue;
        }
      }
      const idx: number[] = [];
      const rec = dd.rec;
      for (let i = resumePos >= 0 ? resumePos : a; i < b; i++) {
        if (plain) {
          if (rec[i]! > nowSec) continue;
        } else if (!this.matches(dd, i, nowSec, f)) continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        if (need === 0) {
          // one more match exists: remember where the next page starts
          if (idx.length > 0) chunks.push({ dd, idx });
          setLru(this.hintCache, `${sig}|${q.offset + q.limit}`, { day: d, pos: i }, 256);
          return { chunks, hasMore: true };
        }
        idx.push(i);
        need--;
      }
      if (idx.length > 0) chunks.push({ dd, idx });
    }
    return { chunks, hasMore: false };
  }

  private dayAgg(
    acct: AccountModel,
    dd: DayData,
    a: number,
    b: number,
    q: UsageQuery,
    gran: 'minute' | 'hour' | 'day',
  ): DayAgg {
    const full = q.loSec <= dd.dayStartSec && q.hiSec >= dd.dayStartSec + DAY_SEC;
    const closed = q.nowSec >= dd.dayStartSec + DAY_SEC + MAX_LAG_SEC;
    const cacheKey = full && closed ? `${acct.username}|${dd.day}|${gran}|${q.byAuth ? 1 : 0}|${q.filter.sig}` : null;
    if (cacheKey !== null) {
      const hit = this.dayAggCache.get(cacheKey);
      if (hit) return hit;
    }
    const size = gran === 'minute' ? 60 : gran === 'hour' ? 3600 : DAY_SEC;
    const agg: DayAgg = new Map();
    let curBucket = -1;
    let cur: Map<number, DayAcc> = new Map();
    for (let i = a; i < b; i++) {
      if (!this.matches(dd, i, q.nowSec, q.filter)) continue;
      const t = dd.ts[i]!;
      const bucket = t - (t % size);
      if (bucket !== curBucket) {
        curBucket = bucket;
        let m = agg.get(bucket);
        if (!m) {
          m = new Map();
          agg.set(bucket, m);
        }
        cur = m;
      }
      const key = lineKey(dd.ep[i]!, dd.pv[i]!, dd.pct[i]!, q.byAuth ? dd.auth[i]! : -1);
      const acc = cur.get(key);
      if (acc) {
        acc.k += dd.k[i]!;
        acc.sub += dd.subNano[i]!;
        acc.disc += dd.discNano[i]!;
        acc.tot += dd.totNano[i]!;
      } else {
        cur.set(key, { k: dd.k[i]!, sub: dd.subNano[i]!, disc: dd.discNano[i]!, tot: dd.totNano[i]! });
      }
    }
    if (cacheKey !== null) setLru(this.dayAggCache, cacheKey, agg, 4096);
    return agg;
  }

  /** Aggregate visible events of the window by bucket × endpoint × unit × price × discount (× auth). */
  usage(acct: AccountModel, q: UsageQuery): UsageResult {
    const cacheKey = `${acct.username}|${q.loSec}|${q.hiSec}|${q.nowSec}|${q.timeframe}|${q.byAuth ? 1 : 0}|${q.filter.sig}`;
    const hit = this.usageCache.get(cacheKey);
    if (hit) {
      setLru(this.usageCache, cacheKey, hit, 16);
      return hit;
    }
    const merged = new Map<number, Map<number, UsageLine>>();
    const lo = q.loSec;
    const hi = Math.min(q.hiSec, q.nowSec + 1);
    if (!q.filter.matchesNothing && lo < hi) {
      const gran = q.timeframe === 'minute' || q.timeframe === 'hour' ? q.timeframe : 'day';
      const firstDay = Math.max(Math.floor(lo / DAY_SEC), this.world.config.historyStartDay);
      const lastDay = Math.floor((hi - 1) / DAY_SEC);
      for (let d = firstDay; d <= lastDay; d++) {
        const dd = this.world.day(acct, d);
        const [a, b] = this.range(dd, lo, hi);
        if (a >= b) continue;
        const agg = this.dayAgg(acct, dd, a, b, q, gran);
        for (const [bucketSec, lines] of agg) {
          const label = gran === 'day' ? periodStart(q.timeframe, bucketSec) : bucketSec;
          let m = merged.get(label);
          if (!m) {
            m = new Map();
            merged.set(label, m);
          }
          for (const [key, acc] of lines) {
            const line = m.get(key);
            if (line) {
              line.k += acc.k;
              line.sub += BigInt(acc.sub);
              line.disc += BigInt(acc.disc);
              line.tot += BigInt(acc.tot);
            } else {
              m.set(key, {
                ...decodeKey(key),
                k: acc.k,
                sub: BigInt(acc.sub),
                disc: BigInt(acc.disc),
                tot: BigInt(acc.tot),
              });
            }
          }
        }
      }
    }
    const cmp = lineComparator(this.world, acct);
    const buckets = [...merged.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([bucketSec, m]) => ({ bucketSec, lines: [...m.values()].sort(cmp) }));
    const flat = buckets.flatMap((bk) => bk.lines.map((line) => ({ bucketSec: bk.bucketSec, line })));
    const sum = new Map<number, UsageLine>();
    for (const { line } of flat) {
      const key = lineKey(line.ep, line.pv, line.pct, line.auth);
      const s = sum.get(key);
      if (s) addUsageLine(s, line);
      else sum.set(key, { ...line });
    }
    const result: UsageResult = { buckets, flat, summary: [...sum.values()].sort(cmp) };
    setLru(this.usageCache, cacheKey, result, 16);
    return result;
  }
}

/** Order of lines inside a bucket: endpoint_id, unit, unit_price, percent_discount (null first), auth method. */
function lineComparator(world: World, acct: AccountModel): (x: UsageLine, y: UsageLine) => number {
  const authKey = (a: number): string => (a < 0 ? '' : (acct.identities[a] as AuthIdentity).sortKey);
  const str = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  return (x, y) => {
    const ex = ENDPOINTS[x.ep] as EndpointDef;
    const ey = ENDPOINTS[y.ep] as EndpointDef;
    return (
      str(ex.endpointId, ey.endpointId) ||
      str(ex.unit, ey.unit) ||
      world.priceNano[x.ep]![x.pv]! - world.priceNano[y.ep]![y.pv]! ||
      x.pct - y.pct ||
      str(authKey(x.auth), authKey(y.auth))
    );
  };
}
