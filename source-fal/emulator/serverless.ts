/**
 * Serverless compute usage for the emulator: GET /v1/serverless/usage.
 *
 * Each account that runs apps has its own seeded stream of serverless billing events per UTC day (a runner
 * billing some machine-seconds of one app on one machine type), generated on demand from a PRNG seeded by
 * (seed, account, day) like the model events in data.ts, with longer late-arrival lags (70 % < 5 min, 20 % 1–12 h,
 * 10 % 12–70 h; every lag below data.ts MAX_LAG_SEC). Apps carry an env
 * suffix; some have no `environment`, and unattributed usage has neither `app` nor `environment`. GPU machines
 * sometimes bill at a surge price, which fal reports as a separate row (`is_surge`). Money is integer nano-USD:
 * subtotal = deciseconds × price_per_second / 10, discount = floor(subtotal × pct / 100).
 */
import { cumulative, DAY_MS, DAY_SEC, dayLabel, hash32, NANO_PER_USD, pick, Rng, type World } from './data.js';
import { DOCS_BASE } from './params.js';
import { periodStart, type Timeframe } from './query.js';
import type { Route, RouteContext } from './routes.js';
import { type CostLineJson, Lru, seriesPage, type SeriesRequest, seriesRequest } from './series.js';

interface MachineDef {
  readonly type: string;
  /** Price per machine-second in nano-USD (divisible by 10: quantities are in tenths of a second). */
  readonly priceNano: number;
  /** Surge price per second, or null when the machine never surges. */
  readonly surgePriceNano: number | null;
}

const MACHINES: readonly MachineDef[] = [
  { type: 'GPU-H100', priceNano: 525_000, surgePriceNano: 787_500 },
  { type: 'GPU-A100', priceNano: 330_000, surgePriceNano: 495_000 },
  { type: 'GPU-A10G', priceNano: 167_000, surgePriceNano: 250_500 },
  { type: 'L', priceNano: 30_000, surgePriceNano: null },
];

interface AppDef {
  /** The app name as fal reports it (owner prefix stripped, env suffix kept); null = unattributed. */
  readonly app: string | null;
  readonly environment: string | null;
  readonly machines: readonly string[];
  readonly weight: number;
  /** Percentage discount per machine type. */
  readonly discountPct?: Readonly<Record<string, number>>;
}

/** Serverless apps per account; an account without an entry has no serverless usage. */
const SERVERLESS_APPS: Readonly<Record<string, readonly AppDef[]>> = {
  'acme-ml': [
    {
      app: 'img-pipeline-prod',
      environment: 'production',
      machines: ['GPU-H100', 'GPU-A100'],
      weight: 40,
      discountPct: { 'GPU-H100': 15 },
    },
    { app: 'img-pipeline-dev', environment: 'development', machines: ['GPU-A10G'], weight: 20 },
    { app: 'whisper-batch-v2', environment: null, machines: ['GPU-A10G', 'L'], weight: 20 },
    { app: null, environment: null, machines: ['GPU-H100', 'L'], weight: 10 },
  ],
  'solo-dev': [
    { app: 'my-comfy-dev', environment: 'development', machines: ['GPU-A10G'], weight: 80 },
    { app: null, environment: null, machines: ['GPU-A10G'], weight: 20 },
  ],
  acme: [{ app: 'demo-app-prod', environment: 'production', machines: ['GPU-A10G', 'L'], weight: 100 }],
  'acme-infra': [
    {
      app: 'trainer-prod',
      environment: 'production',
      machines: ['GPU-H100'],
      weight: 50,
      discountPct: { 'GPU-H100': 10 },
    },
    { app: 'etl-worker-staging', environment: 'staging', machines: ['L'], weight: 40 },
    { app: null, environment: null, machines: ['L'], weight: 10 },
  ],
};

export interface ServerlessEvent {
  readonly tsSec: number;
  /** When the event becomes visible (hidden from the API). */
  readonly recSec: number;
  readonly app: string | null;
  readonly environment: string | null;
  readonly machineType: string;
  readonly isSurge: boolean;
  /** Billed machine time in tenths of a second. */
  readonly deciseconds: number;
  readonly unitPriceNano: number;
  /** 0 = no discount (sent as null). */
  readonly pct: number;
  readonly subNano: number;
  readonly discNano: number;
  readonly totNano: number;
}

/** An aggregated serverless line (exact nano sums). */
export interface ServerlessAgg {
  readonly app: string | null;
  readonly environment: string | null;
  readonly machineType: string;
  readonly isSurge: boolean;
  readonly unitPriceNano: number;
  readonly pct: number;
  deciseconds: number;
  subNano: number;
  discNano: number;
  totNano: number;
}

export interface ServerlessFilter {
  /** Exact app names (1–50); null app never matches. */
  readonly apps?: readonly string[] | undefined;
  /** Case-insensitive substring of the app name. */
  readonly search?: string | undefined;
}

interface ServerlessLineJson extends CostLineJson {
  app: string | null;
  environment: string | null;
  machine_type: string;
  unit: 'second';
  currency: 'USD';
  is_surge: boolean;
}

const nullsFirst = (x: string | null, y: string | null): number =>
  x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;

/** Line order inside a bucket: app, environment (null first), machine type, non-surge first, price, discount. */
function compareServerless(x: ServerlessAgg, y: ServerlessAgg): number {
  return (
    nullsFirst(x.app, y.app) ||
    nullsFirst(x.environment, y.environment) ||
    nullsFirst(x.machineType, y.machineType) ||
    Number(x.isSurge) - Number(y.isSurge) ||
    x.unitPriceNano - y.unitPriceNano ||
    x.pct - y.pct
  );
}

function serverlessLineJson(l: ServerlessAgg): ServerlessLineJson {
  const total = l.totNano / NANO_PER_USD;
  return {
    app: l.app,
    environment: l.environment,
    machine_type: l.machineType,
    unit: 'second',
    quantity: l.deciseconds / 10,
    unit_price: l.unitPriceNano / NANO_PER_USD,
    percent_discount: l.pct === 0 ? null : l.pct,
    cost_subtotal: l.subNano / NANO_PER_USD,
    cost_discount: l.discNano / NANO_PER_USD,
    cost_total: total,
    cost: total,
    currency: 'USD',
    is_surge: l.isSurge,
  };
}

/** The serverless side of one emulator's world: seeded days, kept in a small LRU. */
export class ServerlessData {
  private readonly days = new Lru<readonly ServerlessEvent[]>(256);
  private readonly series = new Lru<{ bucketSec: number; line: ServerlessAgg }[]>(32);

  constructor(private readonly world: World) {}

  /** Every event of an account's UTC day (visible or not), sorted by timestamp. */
  day(account: string, day: number): readonly ServerlessEvent[] {
    return this.days.get(`${account}|${day}`, () => this.generate(account, day));
  }

  private generate(account: string, day: number): ServerlessEvent[] {
    const apps = SERVERLESS_APPS[account] ?? [];
    const { seed, eventsPerDay, historyStartDay } = this.world.config;
    if (apps.length === 0 || day < historyStartDay || !(eventsPerDay > 0)) return [];
    const rng = new Rng(hash32(`fal-emulator-serverless|${seed}|${account}|${day}`));
    const dow = (day + 4) % 7; // 0 = Sunday
    const mean = Math.max(1, Math.round(eventsPerDay / 4)) * (dow === 0 || dow === 6 ? 0.75 : 1.1);
    const n = Math.max(0, Math.round(mean * (0.85 + 0.3 * rng.next())));
    const appCum = cumulative(apps.map((a) => a.weight));
    const events: ServerlessEvent[] = [];
    for (let i = 0; i < n; i++) {
      const tsSec = day * DAY_SEC + Math.floor(rng.next() * DAY_SEC);
      const lr = rng.next();
      const lv = rng.next();
      // Serverless billing trails more than model billing.
      const lag =
        lr < 0.7
          ? Math.floor(lv * 300)
          : lr < 0.9
            ? 3600 + Math.floor(lv * 11 * 3600)
            : 12 * 3600 + Math.floor(lv * 58 * 3600);
      const app = apps[pick(appCum, rng.next())] as AppDef;
      const machineType = app.machines[Math.floor(rng.next() * app.machines.length)] as string;
      const machine = MACHINES.find((m) => m.type === machineType);
      if (!machine) throw new Error(`emulator data: unknown machine type ${machineType}`);
      const isSurge = machine.surgePriceNano !== null && rng.next() < 0.2;
      const unitPriceNano = isSurge ? (machine.surgePriceNano as number) : machine.priceNano;
      const deciseconds = 10 + Math.floor(rng.next() * 18_000);
      const pct = app.discountPct?.[machineType] ?? 0;
      const subNano = (deciseconds * unitPriceNano) / 10;
      const discNano = pct === 0 ? 0 : Math.floor((subNano * pct) / 100);
      events.push({
        tsSec,
        recSec: tsSec + lag,
        app: app.app,
        environment: app.environment,
        machineType,
        isSurge,
        deciseconds,
        unitPriceNano,
        pct,
        subNano,
        discNano,
        totNano: subNano - discNano,
      });
    }
    return events.sort((a, b) => a.tsSec - b.tsSec);
  }

  /** Visible events with loSec <= timestamp < hiSec. */
  *events(
    account: string,
    loSec: number,
    hiSec: number,
    nowSec: number,
    filter: ServerlessFilter = {},
  ): Generator<ServerlessEvent> {
    const hi = Math.min(hiSec, nowSec + 1);
    if (loSec >= hi) return;
    const apps = filter.apps ? new Set(filter.apps) : null;
    const search = filter.search?.toLowerCase();
    const first = Math.max(Math.floor(loSec / DAY_SEC), this.world.config.historyStartDay);
    for (let d = first; d <= Math.floor((hi - 1) / DAY_SEC); d++) {
      for (const e of this.day(account, d)) {
        if (e.tsSec < loSec || e.tsSec >= hi || e.recSec > nowSec) continue;
        if (apps !== null && (e.app === null || !apps.has(e.app))) continue;
        if (search !== undefined && (e.app === null || !e.app.toLowerCase().includes(search))) continue;
        yield e;
      }
    }
  }

  /** (bucket, line) pairs of a window, buckets ascending, lines in compareServerless order; empty buckets omitted. */
  aggregate(
    account: string,
    loSec: number,
    hiSec: number,
    nowSec: number,
    timeframe: Timeframe,
    filter: ServerlessFilter = {},
  ): { bucketSec: number; line: ServerlessAgg }[] {
    const key = JSON.stringify([account, loSec, hiSec, nowSec, timeframe, filter.apps ?? null, filter.search ?? null]);
    return this.series.get(key, () => {
      const buckets = new Map<number, Map<string, ServerlessAgg>>();
      for (const e of this.events(account, loSec, hiSec, nowSec, filter)) {
        const bucketSec = periodStart(timeframe, e.tsSec);
        let lines = buckets.get(bucketSec);
        if (!lines) buckets.set(bucketSec, (lines = new Map()));
        addLine(lines, e);
      }
      return [...buckets.entries()]
        .sort((a, b) => a[0] - b[0])
        .flatMap(([bucketSec, lines]) =>
          [...lines.values()].sort(compareServerless).map((line) => ({ bucketSec, line })),
        );
    });
  }

  /** Sum of cost_total (nano-USD) of visible events per UTC day; days without a visible event are absent. */
  nanoByDay(account: string, startMs: number, endMs: number, asOfMs: number): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const e of this.events(
      account,
      Math.ceil(startMs / 1000),
      Math.ceil(endMs / 1000),
      Math.floor(asOfMs / 1000),
    )) {
      const day = dayLabel(Math.floor((e.tsSec * 1000) / DAY_MS));
      out.set(day, (out.get(day) ?? 0n) + BigInt(e.totNano));
    }
    return out;
  }
}

/** Summary lines: the same grain as the time series without the bucket (fal documents app × machine type; the
 * emulator keeps price, surge and environment apart so that every summary line has one unit price). */
function summarize(flat: readonly { line: ServerlessAgg }[]): ServerlessAgg[] {
  const sum = new Map<string, ServerlessAgg>();
  for (const { line } of flat) addLine(sum, line);
  return [...sum.values()].sort(compareServerless);
}

/** Adds `from` to the line of its grain (app, environment, machine, surge, price, discount), or starts that line. */
function addLine(lines: Map<string, ServerlessAgg>, from: ServerlessAgg): void {
  const k = JSON.stringify([from.app, from.environment, from.machineType, from.isSurge, from.unitPriceNano, from.pct]);
  const line = lines.get(k);
  if (line) {
    line.deciseconds += from.deciseconds;
    line.subNano += from.subNano;
    line.discNano += from.discNano;
    line.totNano += from.totNano;
    return;
  }
  const { app, environment, machineType, isSurge, unitPriceNano, pct, deciseconds, subNano, discNano, totNano } = from;
  lines.set(k, { app, environment, machineType, isSurge, unitPriceNano, pct, deciseconds, subNano, discNano, totNano });
}

const perWorld = new WeakMap<World, ServerlessData>();

/** The serverless data of an emulator's world (created on first use). */
export function serverlessOf(world: World): ServerlessData {
  let data = perWorld.get(world);
  if (!data) perWorld.set(world, (data = new ServerlessData(world)));
  return data;
}

const SERVERLESS_USAGE_DOCS = `${DOCS_BASE}/serverless/usage`;

/** GET /v1/serverless/usage: the caller's apps only; no auth expansion exists on this endpoint. */
function serverlessUsage(ctx: RouteContext): string {
  const req: SeriesRequest<string> = seriesRequest(ctx.params, ctx.nowMs, SERVERLESS_USAGE_DOCS, [
    'time_series',
    'summary',
  ] as const);
  const search = ctx.params.single('search');
  const filter: ServerlessFilter = { apps: ctx.params.multi('app'), search: search === '' ? undefined : search };
  const flat = serverlessOf(ctx.world).aggregate(
    ctx.account.username,
    req.loSec,
    req.hiSec,
    Math.floor(ctx.nowMs / 1000),
    req.timeframe,
    filter,
  );
  return seriesPage(
    req,
    flat.map(({ bucketSec, line }) => ({ bucketSec, line: serverlessLineJson(line) })),
    () => summarize(flat).map(serverlessLineJson),
  );
}

export const SERVERLESS_ROUTES: readonly (readonly [string, Route])[] = [
  ['/v1/serverless/usage', { scope: 'ADMIN', docsUrl: SERVERLESS_USAGE_DOCS, handler: serverlessUsage }],
];
