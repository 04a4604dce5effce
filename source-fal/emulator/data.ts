/**
 * Seeded, lazily generated fal.ai usage data for the emulator.
 *
 * Every account has its own event stream. Events are generated per (account, UTC day) from a PRNG
 * seeded by a hash of (seed, account, day), so any day can be produced on demand, in any order, and
 * is identical every time. A small LRU keeps recently generated days; nothing else is materialised.
 *
 * Money is exact: prices and costs are integer nano-USD (1 USD = 1e9 nano). Per event:
 *   subtotal = units × unit_price, discount = floor(subtotal × pct / 100), total = subtotal − discount.
 *
 * Late data: every event has a hidden recordedAt = timestamp + lag (lag < 72 h). An event is visible
 * iff recordedAt <= the emulator's clock.
 */
import { FIXTURE_KEYS, type FixtureKey } from './keys.js';

export const NANO_PER_USD = 1_000_000_000;
export const DAY_SEC = 86_400;
export const DAY_MS = 86_400_000;
/** Every event is recorded strictly less than this many seconds after its timestamp. */
export const MAX_LAG_SEC = 72 * 3600;

// ---------------------------------------------------------------------------------------------
// PRNG and hashing
// ---------------------------------------------------------------------------------------------

/** 32-bit FNV-1a followed by a murmur3 finaliser. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
}

const TWO: string[] = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
/** ASCII of the two lowercase hex digits of each byte value: HEX_ASCII[2b], HEX_ASCII[2b+1]. */
const HEX_ASCII = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEX_ASCII[2 * b] = h.charCodeAt(0);
  HEX_ASCII[2 * b + 1] = h.charCodeAt(1);
}
/** Length of a request id (UUID text). */
export const RID_LEN = 36;
const DASH = 45;

/** Write the 2·nBytes hex digits of the low nBytes bytes of w (big-endian) at out[pos]. */
function hexBytes(out: Uint8Array, pos: number, w: number, nBytes: number): void {
  for (let x = nBytes - 1; x >= 0; x--) {
    const b = (w >>> (8 * x)) & 255;
    out[pos++] = HEX_ASCII[2 * b]!;
    out[pos++] = HEX_ASCII[2 * b + 1]!;
  }
}

/** Write a UUID v4-looking id (36 ASCII bytes, layout 8-4-4-4-12) built from four PRNG words at out[pos]. */
function writeUuid(out: Uint8Array, pos: number, a: number, b: number, c: number, d: number): void {
  const b2 = ((b & 0xffff0fff) | 0x00004000) >>> 0;
  const c2 = ((c & 0x3fffffff) | 0x80000000) >>> 0;
  hexBytes(out, pos, a, 4);
  out[pos + 8] = DASH;
  hexBytes(out, pos + 9, b2 >>> 16, 2);
  out[pos + 13] = DASH;
  hexBytes(out, pos + 14, b2 & 0xffff, 2);
  out[pos + 18] = DASH;
  hexBytes(out, pos + 19, c2 >>> 16, 2);
  out[pos + 23] = DASH;
  hexBytes(out, pos + 24, c2 & 0xffff, 2);
  hexBytes(out, pos + 28, d, 4);
}

function uuidFrom(a: number, b: number, c: number, d: number): string {
  const out = new Uint8Array(RID_LEN);
  writeUuid(out, 0, a, b, c, d);
  return Buffer.from(out.buffer, out.byteOffset, RID_LEN).toString('latin1');
}

export function deterministicUuid(s: string): string {
  const r = new Rng(hash32(s));
  return uuidFrom(r.u32(), r.u32(), r.u32(), r.u32());
}

// ---------------------------------------------------------------------------------------------
// Time helpers
// ---------------------------------------------------------------------------------------------

/** `YYYY-MM-DD` of a UTC day number (days since 1970-01-01). */
export function dayLabel(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Period start written with an explicit offset, as fal writes buckets: `2026-07-26T00:00:00+00:00`. */
export function bucketLabel(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 19) + '+00:00';
}

let HMS: string[] | null = null;

/** `HH:MM:SS` of a second of the day (0..86399), from a table built on first use. */
export function hms(secOfDay: number): string {
  if (HMS === null) {
    HMS = new Array<string>(DAY_SEC);
    for (let x = 0; x < DAY_SEC; x++) {
      HMS[x] = `${TWO[Math.floor(x / 3600)]!}:${TWO[Math.floor((x % 3600) / 60)]!}:${TWO[x % 60]!}`;
    }
  }
  return HMS[secOfDay]!;
}

// ---------------------------------------------------------------------------------------------
// Endpoint catalog
// ---------------------------------------------------------------------------------------------

export interface EndpointDef {
  readonly endpointId: string;
  /** Billing unit as fal reports it. */
  readonly unit: string;
  /** output_units = k / unitDenominator for a positive integer k (2 → multiples of 0.5). */
  readonly unitDenominator: 1 | 2;
  /** List price per unit in nano-USD at the start of history (divisible by unitDenominator). */
  readonly listPriceNano: number;
  /** Price per unit after the world's price-change instant, if this endpoint's price changes. */
  readonly changedPriceNano?: number;
  /** Distribution of k. */
  readonly kValues: readonly number[];
  readonly kWeights: readonly number[];
}

/** The model endpoints the emulator bills. Index in this array = endpoint index in generated data. */
export const ENDPOINTS: readonly EndpointDef[] = [
  {
    endpointId: 'fal-ai/flux/dev',
    unit: 'image',
    unitDenominator: 1,
    listPriceNano: 25_000_000,
    kValues: [1, 2, 3, 4],
    kWeights: [60, 20, 8, 12],
  },
  {
    endpointId: 'fal-ai/flux-pro/v1.1',
    unit: 'image',
    unitDenominator: 1,
    listPriceNano: 40_000_000,
    kValues: [1, 2, 4],
    kWeights: [70, 20, 10],
  },
  {
    endpointId: 'fal-ai/fast-sdxl',
    unit: 'image',
    unitDenominator: 1,
    listPriceNano: 2_500_000,
    kValues: [1, 2, 3, 4, 5, 6, 7, 8],
    kWeights: [30, 15, 10, 20, 5, 5, 5, 10],
  },
  // seconds of video, in multiples of 0.5 s (k = half-seconds)
  {
    endpointId: 'fal-ai/kling-video/v2/master',
    unit: 'second',
    unitDenominator: 2,
    listPriceNano: 280_000_000,
    kValues: [10, 20, 11],
    kWeights: [65, 30, 5],
  },
  {
    endpointId: 'fal-ai/veo3',
    unit: 'second',
    unitDenominator: 2,
    listPriceNano: 750_000_000,
    changedPriceNano: 400_000_000,
    kValues: [8, 9, 12, 15, 16],
    kWeights: [10, 5, 15, 5, 65],
  },
  {
    endpointId: 'fal-ai/whisper',
    unit: 'request',
    unitDenominator: 1,
    listPriceNano: 1_500_000,
    kValues: [1],
    kWeights: [1],
  },
  // an odd price, so percentage discounts need flooring
  {
    endpointId: 'fal-ai/clarity-upscaler',
    unit: 'megapixel',
    unitDenominator: 1,
    listPriceNano: 3_333_333,
    kValues: [1, 2, 4, 6, 8, 12, 16],
    kWeights: [10, 20, 30, 10, 15, 10, 5],
  },
  {
    endpointId: 'fal-ai/minimax/video-01',
    unit: 'video',
    unitDenominator: 1,
    listPriceNano: 500_000_000,
    kValues: [1],
    kWeights: [1],
  },
];

/** Every k (output_units × unitDenominator) is below this. */
export const MAX_K = 64;
for (const e of ENDPOINTS) {
  if (e.kValues.some((k) => !Number.isInteger(k) || k < 1 || k >= MAX_K))
    throw new Error(`emulator data: ${e.endpointId} k out of range`);
  if (e.listPriceNano % e.unitDenominator !== 0 || (e.changedPriceNano ?? 0) % e.unitDenominator !== 0) {
    throw new Error(`emulator data: ${e.endpointId} price not divisible by its unit denominator`);
  }
}

const ENDPOINT_INDEX = new Map<string, number>(ENDPOINTS.map((e, i) => [e.endpointId, i]));

export function endpointIndex(endpointId: string): number | undefined {
  return ENDPOINT_INDEX.get(endpointId);
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

type IdentityDef =
  | { readonly kind: 'key'; readonly alias: string; readonly weight: number }
  | { readonly kind: 'user'; readonly login: string; readonly weight: number };

interface AccountDef {
  readonly username: string;
  readonly createdAt: string;
  readonly focusEnabled: boolean;
  /** Organization name when the account is a team of an organization. */
  readonly organization: string | null;
  readonly isOrgRoot: boolean;
  /** Relative weight of each endpoint in this account's traffic. */
  readonly endpointWeights: Readonly<Record<string, number>>;
  /** Who makes the requests: API keys of the account (by alias) and web-UI users (by login). */
  readonly identities: readonly IdentityDef[];
  /** Percentage discounts for an identity (key alias or login) on an endpoint. */
  readonly discounts: readonly { readonly identity: string; readonly endpointId: string; readonly percent: number }[];
  /** Base of the credit balance, in cents (the seed shifts it deterministically). */
  readonly creditsBaseCents: number;
}

export interface OrganizationDef {
  readonly name: string;
  readonly root: string;
  readonly teams: readonly string[];
}

export const ORGANIZATIONS: readonly OrganizationDef[] = [
  { name: 'Acme Inc', root: 'acme', teams: ['acme', 'acme-ml', 'acme-infra'] },
];

const ACCOUNTS: readonly AccountDef[] = [
  {
    username: 'acme-ml',
    createdAt: '2025-01-05T09:10:00Z',
    focusEnabled: true,
    organization: 'Acme Inc',
    isOrgRoot: false,
    endpointWeights: {
      'fal-ai/flux/dev': 30,
      'fal-ai/flux-pro/v1.1': 12,
      'fal-ai/fast-sdxl': 15,
      'fal-ai/kling-video/v2/master': 6,
      'fal-ai/veo3': 4,
      'fal-ai/whisper': 18,
      'fal-ai/clarity-upscaler': 10,
      'fal-ai/minimax/video-01': 5,
    },
    identities: [
      { kind: 'key', alias: 'Production Key', weight: 55 },
      { kind: 'key', alias: 'Batch Jobs', weight: 25 },
      { kind: 'key', alias: 'Staging', weight: 5 },
      { kind: 'user', login: 'alice', weight: 10 },
      { kind: 'user', login: 'bob', weight: 5 },
    ],
    discounts: [
      { identity: 'Batch Jobs', endpointId: 'fal-ai/flux/dev', percent: 20 },
      { identity: 'Production Key', endpointId: 'fal-ai/veo3', percent: 10 },
      { identity: 'Production Key', endpointId: 'fal-ai/clarity-upscaler', percent: 10 },
    ],
    creditsBaseCents: 1_250_000,
  },
  {
    username: 'solo-dev',
    createdAt: '2025-02-01T11:58:00Z',
    focusEnabled: false,
    organization: null,
    isOrgRoot: false,
    endpointWeights: { 'fal-ai/flux/dev': 50, 'fal-ai/fast-sdxl': 30, 'fal-ai/whisper': 15, 'fal-ai/veo3': 5 },
    identities: [
      { kind: 'key', alias: 'Default Key', weight: 70 },
      { kind: 'key', alias: 'Laptop', weight: 20 },
      { kind: 'user', login: 'sam', weight: 10 },
    ],
    discounts: [{ identity: 'Default Key', endpointId: 'fal-ai/fast-sdxl', percent: 10 }],
    creditsBaseCents: 2_450,
  },
  {
    username: 'acme',
    createdAt: '2025-01-05T09:00:00Z',
    focusEnabled: true,
    organization: 'Acme Inc',
    isOrgRoot: true,
    endpointWeights: { 'fal-ai/flux/dev': 40, 'fal-ai/flux-pro/v1.1': 30, 'fal-ai/veo3': 10, 'fal-ai/whisper': 20 },
    identities: [
      { kind: 'key', alias: 'Org Production', weight: 60 },
      { kind: 'key', alias: 'Org Research', weight: 25 },
      { kind: 'user', login: 'carol', weight: 10 },
      { kind: 'user', login: 'alice', weight: 5 },
    ],
    discounts: [{ identity: 'Org Production', endpointId: 'fal-ai/flux-pro/v1.1', percent: 20 }],
    creditsBaseCents: 5_000_000,
  },
  {
    username: 'acme-infra',
    createdAt: '2025-01-08T09:20:00Z',
    focusEnabled: true,
    organization: 'Acme Inc',
    isOrgRoot: false,
    endpointWeights: {
      'fal-ai/whisper': 40,
      'fal-ai/kling-video/v2/master': 20,
      'fal-ai/clarity-upscaler': 30,
      'fal-ai/minimax/video-01': 10,
    },
    identities: [
      { kind: 'key', alias: 'Infra Key', weight: 50 },
      { kind: 'key', alias: 'CI Key', weight: 40 },
      { kind: 'user', login: 'dave', weight: 10 },
    ],
    discounts: [{ identity: 'CI Key', endpointId: 'fal-ai/whisper', percent: 10 }],
    creditsBaseCents: 80_000,
  },
];

/** One auth method as it appears in events and usage lines. */
export interface AuthIdentity {
  readonly kind: 'key' | 'user';
  /** `auth_method` string and `auth_method_structured.detail`: the key alias, or "User token". */
  readonly detail: string;
  readonly apiKeyId: string | null;
  readonly loginUsername: string | null;
  /** Deterministic order of auth methods: keys (by key id) before users (by login). */
  readonly sortKey: string;
  /** Pre-rendered JSON of auth_method and auth_method_structured values. */
  readonly authMethodJson: string;
  readonly structuredJson: string;
}

interface AuthMethodStructured {
  detail: string;
  api_key_id?: string;
  login_username?: string;
}

/** An account compiled for generation. */
export interface AccountModel {
  readonly def: AccountDef;
  readonly username: string;
  readonly keys: readonly FixtureKey[];
  readonly identities: readonly AuthIdentity[];
  /** Catalog indices of the endpoints this account uses, and their cumulative weights. */
  readonly endpointIdx: readonly number[];
  readonly endpointCum: readonly number[];
  readonly identityCum: readonly number[];
  /** discountPct[identity * ENDPOINTS.length + endpoint] in 0..100 (0 = no discount → null). */
  readonly discountPct: Uint8Array;
}

/** Cumulative shares of `weights` (the last is 1), for drawing an index with `pick`. */
export function cumulative(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return weights.map((w) => (acc += w / total));
}

/** The index whose cumulative share first exceeds `r` in [0, 1). */
export function pick(cum: readonly number[], r: number): number {
  for (let i = 0; i < cum.length; i++) if (r < (cum[i] as number)) return i;
  return cum.length - 1;
}

function compileAccount(def: AccountDef): AccountModel {
  const keys = FIXTURE_KEYS.filter((k) => k.account === def.username);
  const identities: AuthIdentity[] = def.identities.map((idDef) => {
    if (idDef.kind === 'key') {
      const key = keys.find((k) => k.alias === idDef.alias);
      if (!key) throw new Error(`emulator data: account ${def.username} has no key aliased ${idDef.alias}`);
      const structured: AuthMethodStructured = { detail: key.alias, api_key_id: key.keyId };
      return {
        kind: 'key',
        detail: key.alias,
        apiKeyId: key.keyId,
        loginUsername: null,
        sortKey: `0:${key.keyId}`,
        authMethodJson: JSON.stringify(key.alias),
        structuredJson: JSON.stringify(structured),
      };
    }
    const structured: AuthMethodStructured = { detail: 'User token', login_username: idDef.login };
    return {
      kind: 'user',
      detail: 'User token',
      apiKeyId: null,
      loginUsername: idDef.login,
      sortKey: `1:${idDef.login}`,
      authMethodJson: JSON.stringify('User token'),
      structuredJson: JSON.stringify(structured),
    };
  });
  const epEntries = Object.entries(def.endpointWeights);
  const endpointIdx = epEntries.map(([id]) => {
    const i = endpointIndex(id);
    if (i === undefined) throw new Error(`emulator data: unknown endpoint ${id}`);
    return i;
  });
  const discountPct = new Uint8Array(identities.length * ENDPOINTS.length);
  for (const d of def.discounts) {
    const ii = def.identities.findIndex((x) => (x.kind === 'key' ? x.alias : x.login) === d.identity);
    const ei = endpointIndex(d.endpointId);
    if (ii < 0 || ei === undefined) throw new Error(`emulator data: bad discount ${JSON.stringify(d)}`);
    discountPct[ii * ENDPOINTS.length + ei] = d.percent;
  }
  return {
    def,
    username: def.username,
    keys,
    identities,
    endpointIdx,
    endpointCum: cumulative(epEntries.map(([, w]) => w)),
    identityCum: cumulative(def.identities.map((x) => x.weight)),
    discountPct,
  };
}

// ---------------------------------------------------------------------------------------------
// Generated days
// ---------------------------------------------------------------------------------------------

/** One account's events of one UTC day, sorted by (timestamp, request_id), column-wise. */
export interface DayData {
  readonly account: string;
  readonly day: number;
  readonly dayStartSec: number;
  readonly n: number;
  /** Timestamp, unix seconds. */
  readonly ts: Uint32Array;
  /** recordedAt (timestamp + lag), unix seconds. */
  readonly rec: Uint32Array;
  /** Endpoint catalog index. */
  readonly ep: Uint8Array;
  /** output_units × unitDenominator. */
  readonly k: Uint16Array;
  /** Index into the account's identities. */
  readonly auth: Uint8Array;
  /** Price variant (0 = list price, 1 = changed price). */
  readonly pv: Uint8Array;
  /** percent_discount (0 = none/null). */
  readonly pct: Uint8Array;
  readonly subNano: Float64Array;
  readonly discNano: Float64Array;
  readonly totNano: Float64Array;
  /** request_id of event i: ASCII bytes [36 i, 36 i + 36). */
  readonly ridBytes: Uint8Array;
  /** request_id strings, materialised on first use (filters, truth). */
  ridStrings: string[] | null;
  /** `YYYY-MM-DDT` of this day. */
  readonly datePrefix: string;
}

/** Is request id a > request id b (by the first word, then byte by byte)? */
function ridGreater(a: number, b: number, w0: Uint32Array, rid: Uint8Array): boolean {
  const x = w0[a]!;
  const y = w0[b]!;
  if (x !== y) return x > y;
  for (let i = 0; i < RID_LEN; i++) {
    const ca = rid[a * RID_LEN + i]!;
    const cb = rid[b * RID_LEN + i]!;
    if (ca !== cb) return ca > cb;
  }
  return false;
}

const K_CUMS: readonly number[][] = ENDPOINTS.map((e) => cumulative(e.kWeights));

const HOUR_CUM: number[] = cumulative(
  Array.from({ length: 24 }, (_, h) => 1 + 0.8 * Math.cos((2 * Math.PI * (h - 16)) / 24)),
);

export interface WorldConfig {
  seed: number;
  /** Mean events per account per day. */
  eventsPerDay: number;
  /** First UTC day number that has data. */
  historyStartDay: number;
  /** Instant (unix seconds) from which endpoints with changedPriceNano use it. */
  priceChangeAtSec: number;
  /** LRU size in days (default 16) and in events (default 1,000,000; about 75 bytes an event). */
  cacheDays?: number;
  cacheEvents?: number;
}

/** A billing event as the truth helpers return it (exact integers in nano-USD). */
/**
 * Cost-allocation tags of a billed request (fal: the activated keys of the request's `X-Fal-Tags` header,
 * https://fal.ai/docs/documentation/model-apis/request-tags; `{}` when it set none): requests made with an API key
 * tag their product family, web-UI requests set none.
 */
export function eventTags(def: EndpointDef, byKey: boolean): Record<string, string> {
  return byKey ? { project: def.unit === 'second' || def.unit === 'video' ? 'video' : 'image' } : {};
}

export interface BillingEventTruth {
  account: string;
  request_id: string;
  endpoint_id: string;
  unit: string;
  /** RFC 3339 UTC, whole seconds, `Z`. */
  timestamp: string;
  timestampMs: number;
  /** When the event becomes visible (hidden from the API). */
  recordedAtMs: number;
  output_units: number;
  unit_price_nano: number;
  percent_discount: number | null;
  cost_subtotal_nano: number;
  cost_discount_nano: number;
  /** == cost_estimate_nano_usd */
  cost_total_nano: number;
  auth_method: string;
  auth_method_structured: AuthMethodStructured;
  /** Cost-allocation tags (eventTags). */
  tags: Record<string, string>;
}

export class World {
  readonly config: Required<WorldConfig>;
  readonly accounts: ReadonlyMap<string, AccountModel>;
  /** priceNano[endpoint][variant] */
  readonly priceNano: readonly (readonly number[])[];
  /** JSON text of each endpoint's price variants in USD, and its endpoint_id. */
  readonly priceJson: readonly (readonly string[])[];
  readonly endpointJson: readonly string[];
  private readonly lru = new Map<string, DayData>();
  private readonly fragments = new Map<number, string>();
  private lruEvents = 0;
  /** Days generated since start (for diagnostics). */
  generatedDays = 0;

  constructor(config: WorldConfig) {
    this.config = { cacheDays: 16, cacheEvents: 1_000_000, ...config };
    const accounts = new Map<string, AccountModel>();
    for (const def of ACCOUNTS) accounts.set(def.username, compileAccount(def));
    this.accounts = accounts;
    this.priceNano = ENDPOINTS.map((e) =>
      e.changedPriceNano === undefined ? [e.listPriceNano] : [e.listPriceNano, e.changedPriceNano],
    );
    this.priceJson = this.priceNano.map((ps) => ps.map((p) => String(p / NANO_PER_USD)));
    this.endpointJson = ENDPOINTS.map((e) => JSON.stringify(e.endpointId));
  }

  /**
   * The JSON text of a billing event from output_units to cost_estimate_nano_usd (leading comma
   * included); the set of (endpoint, price, units, discount) combinations is small, so it is cached.
   */
  costFragment(ep: number, pv: number, k: number, pct: number): string {
    const key = ((ep * 4 + pv) * 128 + pct) * 65536 + k;
    let f = this.fragments.get(key);
    if (f === undefined) {
      const def = ENDPOINTS[ep]!;
      const price = this.priceNano[ep]![pv]!;
      const sub = (k * price) / def.unitDenominator;
      const disc = pct === 0 ? 0 : Math.floor((sub * pct) / 100);
      const tot = sub - disc;
      f =
        `,"output_units":${k / def.unitDenominator},"unit_price":${price / NANO_PER_USD},"percent_discount":${pct === 0 ? 'null' : pct}` +
        `,"cost_subtotal":${sub / NANO_PER_USD},"cost_discount":${disc / NANO_PER_USD},"cost_total":${tot / NANO_PER_USD},"cost_estimate_nano_usd":${tot}`;
      this.fragments.set(key, f);
    }
    return f;
  }

  account(username: string): AccountModel | undefined {
    return this.accounts.get(username);
  }

  /** The unit price (nano-USD) an endpoint bills at an instant. */
  unitPriceNanoAt(endpointId: string, atMs: number): number | undefined {
    const i = endpointIndex(endpointId);
    if (i === undefined) return undefined;
    const ps = this.priceNano[i] as readonly number[];
    return (atMs >= this.config.priceChangeAtSec * 1000 ? ps[ps.length - 1] : ps[0]) as number;
  }

  /** Events of one account's UTC day (generated or from the LRU). Days before history are empty. */
  day(acct: AccountModel, day: number): DayData {
    const key = `${acct.username}|${day}`;
    const hit = this.lru.get(key);
    if (hit) {
      this.lru.delete(key);
      this.lru.set(key, hit);
      return hit;
    }
    const dd = this.generate(acct, day);
    this.generatedDays++;
    this.lru.set(key, dd);
    this.lruEvents += dd.n;
    while (this.lru.size > 1 && (this.lru.size > this.config.cacheDays || this.lruEvents > this.config.cacheEvents)) {
      const oldest = this.lru.keys().next();
      if (oldest.done) break;
      const ev = this.lru.get(oldest.value);
      this.lru.delete(oldest.value);
      if (ev) this.lruEvents -= ev.n;
    }
    return dd;
  }

  /** Number of events (visible or not) of a day, with its weekday variation. */
  private eventCount(rng: Rng, day: number): number {
    const mean = this.config.eventsPerDay;
    if (!(mean > 0)) return 0;
    const dow = (day + 4) % 7; // 0 = Sunday
    const weekday = dow === 0 || dow === 6 ? 0.75 : 1.1;
    return Math.max(0, Math.round(mean * weekday * (0.85 + 0.3 * rng.next())));
  }

  private generate(acct: AccountModel, day: number): DayData {
    const dayStartSec = day * DAY_SEC;
    const rng = new Rng(hash32(`fal-emulator|${this.config.seed}|${acct.username}|${day}`));
    const n = day < this.config.historyStartDay ? 0 : this.eventCount(rng, day);
    const nEp = ENDPOINTS.length;
    const priceChange = this.config.priceChangeAtSec;

    // 1. Seconds of the day, counting-sorted, so the other fields are drawn straight into time order.
    const counts = new Uint32Array(DAY_SEC + 1);
    for (let i = 0; i < n; i++) {
      const hour = pick(HOUR_CUM, rng.next());
      counts[hour * 3600 + Math.floor(rng.next() * 3600) + 1]!++;
    }
    const ts = new Uint32Array(n);
    let j = 0;
    for (let x = 0; x < DAY_SEC; x++) {
      const c = counts[x + 1]!;
      for (let y = 0; y < c; y++) ts[j++] = dayStartSec + x;
    }

    // 2. Everything else, in time order.
    const rec = new Uint32Array(n);
    const ep = new Uint8Array(n);
    const k = new Uint16Array(n);
    const auth = new Uint8Array(n);
    const pv = new Uint8Array(n);
    const pct = new Uint8Array(n);
    const subNano = new Float64Array(n);
    const discNano = new Float64Array(n);
    const totNano = new Float64Array(n);
    const ridBytes = new Uint8Array(n * RID_LEN);
    const w0 = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const t = ts[i]!;
      const lr = rng.next();
      const lv = rng.next();
      rec[i] =
        t +
        (lr < 0.9
          ? Math.floor(lv * 300)
          : lr < 0.99
            ? 3600 + Math.floor(lv * 11 * 3600)
            : 3600 + Math.floor(lv * 69 * 3600));
      const e = acct.endpointIdx[pick(acct.endpointCum, rng.next())]!;
      const def = ENDPOINTS[e]!;
      const kk = def.kValues[pick(K_CUMS[e]!, rng.next())]!;
      const a = pick(acct.identityCum, rng.next());
      const variant = def.changedPriceNano !== undefined && t >= priceChange ? 1 : 0;
      const price = this.priceNano[e]![variant]!;
      const p = acct.discountPct[a * nEp + e]!;
      const sub = (kk * price) / def.unitDenominator;
      const disc = p === 0 ? 0 : Math.floor((sub * p) / 100);
      ep[i] = e;
      k[i] = kk;
      auth[i] = a;
      pv[i] = variant;
      pct[i] = p;
      subNano[i] = sub;
      discNano[i] = disc;
      totNano[i] = sub - disc;
      const word = rng.u32();
      w0[i] = word;
      writeUuid(ridBytes, i * RID_LEN, word, rng.u32(), rng.u32(), rng.u32());
    }

    // 3. Within one second, order by request_id (its first 8 hex digits spell w0): insertion sort of
    //    the small groups of equal timestamps, swapping every column.
    const swap = (x: number, y: number): void => {
      let t: number;
      t = rec[x]!;
      rec[x] = rec[y]!;
      rec[y] = t;
      t = ep[x]!;
      ep[x] = ep[y]!;
      ep[y] = t;
      t = k[x]!;
      k[x] = k[y]!;
      k[y] = t;
      t = auth[x]!;
      auth[x] = auth[y]!;
      auth[y] = t;
      t = pv[x]!;
      pv[x] = pv[y]!;
      pv[y] = t;
      t = pct[x]!;
      pct[x] = pct[y]!;
      pct[y] = t;
      t = subNano[x]!;
      subNano[x] = subNano[y]!;
      subNano[y] = t;
      t = discNano[x]!;
      discNano[x] = discNano[y]!;
      discNano[y] = t;
      t = totNano[x]!;
      totNano[x] = totNano[y]!;
      totNano[y] = t;
      t = w0[x]!;
      w0[x] = w0[y]!;
      w0[y] = t;
      const rx = x * RID_LEN;
      const ry = y * RID_LEN;
      for (let z = 0; z < RID_LEN; z++) {
        t = ridBytes[rx + z]!;
        ridBytes[rx + z] = ridBytes[ry + z]!;
        ridBytes[ry + z] = t;
      }
    };
    for (let x = 1; x < n; x++) {
      for (let y = x; y > 0 && ts[y - 1] === ts[y] && ridGreater(y - 1, y, w0, ridBytes); y--) swap(y - 1, y);
    }
    return {
      account: acct.username,
      day,
      dayStartSec,
      n,
      ts,
      rec,
      ep,
      k,
      auth,
      pv,
      pct,
      subNano,
      discNano,
      totNano,
      ridBytes,
      ridStrings: null,
      datePrefix: dayLabel(day) + 'T',
    };
  }

  /** request_id strings of a day (materialised once, then kept with the day). */
  requestIds(dd: DayData): string[] {
    if (dd.ridStrings === null) {
      const buf = Buffer.from(dd.ridBytes.buffer, dd.ridBytes.byteOffset, dd.ridBytes.byteLength);
      const out = new Array<string>(dd.n);
      for (let i = 0; i < dd.n; i++) out[i] = buf.toString('latin1', i * RID_LEN, i * RID_LEN + RID_LEN);
      dd.ridStrings = out;
    }
    return dd.ridStrings;
  }

  /** RFC 3339 timestamp of event i of a day. */
  timestampOf(dd: DayData, i: number): string {
    return dd.datePrefix + hms((dd.ts[i] as number) - dd.dayStartSec) + 'Z';
  }

  /** Event i of a day as a truth record. */
  eventTruth(acct: AccountModel, dd: DayData, i: number): BillingEventTruth {
    const e = dd.ep[i] as number;
    const def = ENDPOINTS[e] as EndpointDef;
    const id = acct.identities[dd.auth[i] as number] as AuthIdentity;
    const structured: AuthMethodStructured =
      id.kind === 'key'
        ? { detail: id.detail, api_key_id: id.apiKeyId as string }
        : { detail: id.detail, login_username: id.loginUsername as string };
    const p = dd.pct[i] as number;
    return {
      account: acct.username,
      request_id: this.requestIds(dd)[i]!,
      endpoint_id: def.endpointId,
      unit: def.unit,
      timestamp: this.timestampOf(dd, i),
      timestampMs: (dd.ts[i] as number) * 1000,
      recordedAtMs: (dd.rec[i] as number) * 1000,
      output_units: (dd.k[i] as number) / def.unitDenominator,
      unit_price_nano: (this.priceNano[e] as readonly number[])[dd.pv[i] as number] as number,
      percent_discount: p === 0 ? null : p,
      cost_subtotal_nano: dd.subNano[i] as number,
      cost_discount_nano: dd.discNano[i] as number,
      cost_total_nano: dd.totNano[i] as number,
      auth_method: id.detail,
      auth_method_structured: structured,
      tags: eventTags(def, id.kind === 'key'),
    };
  }

  /** Visible events (recordedAt <= asOf) with start <= timestamp < end, sorted by (timestamp, request_id). */
  *events(account: string, startMs: number, endMs: number, asOfMs: number): Generator<BillingEventTruth> {
    const acct = this.requireAccount(account);
    const lo = Math.ceil(startMs / 1000);
    const hi = Math.ceil(endMs / 1000);
    const asOf = Math.floor(asOfMs / 1000);
    const last = Math.min(Math.floor((hi - 1) / DAY_SEC), Math.floor(asOf / DAY_SEC));
    for (let d = Math.max(Math.floor(lo / DAY_SEC), this.config.historyStartDay); d <= last; d++) {
      const dd = this.day(acct, d);
      for (let i = 0; i < dd.n; i++) {
        const t = dd.ts[i] as number;
        if (t < lo || t >= hi || (dd.rec[i] as number) > asOf) continue;
        yield this.eventTruth(acct, dd, i);
      }
    }
  }

  /** Sum of cost_total (nano-USD) of visible events per UTC day; days without a visible event are absent. */
  usageNanoByDay(account: string, startMs: number, endMs: number, asOfMs: number): Map<string, bigint> {
    const acct = this.requireAccount(account);
    const lo = Math.ceil(startMs / 1000);
    const hi = Math.ceil(endMs / 1000);
    const asOf = Math.floor(asOfMs / 1000);
    const out = new Map<string, bigint>();
    const last = Math.min(Math.floor((hi - 1) / DAY_SEC), Math.floor(asOf / DAY_SEC));
    for (let d = Math.max(Math.floor(lo / DAY_SEC), this.config.historyStartDay); d <= last; d++) {
      const dd = this.day(acct, d);
      let sum = 0;
      let any = false;
      for (let i = 0; i < dd.n; i++) {
        const t = dd.ts[i] as number;
        if (t < lo || t >= hi || (dd.rec[i] as number) > asOf) continue;
        sum += dd.totNano[i] as number;
        any = true;
      }
      if (any) out.set(dayLabel(d), BigInt(sum));
    }
    return out;
  }

  requireAccount(account: string): AccountModel {
    const acct = this.accounts.get(account);
    if (!acct) throw new Error(`emulator: unknown account ${account}`);
    return acct;
  }

  /** Deterministic non-negative credit balance in cents. */
  creditsCents(account: string): number {
    const acct = this.requireAccount(account);
    return acct.def.creditsBaseCents + (hash32(`credits|${this.config.seed}|${account}`) % 100_000);
  }
}
