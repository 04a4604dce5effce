/**
 * The fal.ai Platform API emulator: a local HTTP server (node:http) speaking the parts of fal's API
 * the connector uses, over seeded, lazily generated data,
 * with an adjustable clock, a request log, fault injection and "truth" helpers for reconciliation.
 *
 * The clock does not tick by itself: it moves only with setNow()/advance(). Responses depend only on
 * the options, the clock and the request, so the same seed and clock give byte-identical responses
 * (node's automatic Date header is turned off).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

import { type BillingEventTruth, DAY_MS, DAY_SEC, deterministicUuid, World } from './data.js';
import { type FaultAction, type Faults, FaultSet, gatewayHtml } from './faults.js';
import { buildInvoice, type Invoice, invoiceIssuedAtMs } from './focus.js';
import { findKey } from './keys.js';
import {
  type OrgBillingEventTruth,
  orgEvents,
  orgRootedAt,
  orgUsageNanoByDay,
  type Product,
  type TeamJson,
  teamsOf,
} from './org.js';
import { ApiError, DOCS_BASE, errorEnvelope, errorTypeForStatus, Params } from './params.js';
import { type PriceJson, priceOf } from './pricing.js';
import { QueryEngine } from './query.js';
import { BillingEventRenderer } from './render.js';
import { ROUTES } from './routes.js';
import { serverlessOf } from './serverless.js';

export type { BillingEventTruth } from './data.js';
export { ADMIN_KEY } from './keys.js';
export type { OrgBillingEventTruth, Product } from './org.js';
export interface EmulatorOptions {
  /** Default 1. */
  seed?: number;
  /** Emulator clock; default: new Date() rounded down to the second. */
  now?: Date | string;
  /** Days of data before `now` at start (whole UTC days, from the UTC midnight on or before now − historyDays); default 150. */
  historyDays?: number;
  /** Mean billing events per account per day; default 120. */
  eventsPerDay?: number;
  /** Default 0 (ephemeral); binds 127.0.0.1 only. */
  port?: number;
  /**
   * A remote API's answer time, for benchmarks: every answer waits `fixedMs` plus `perMiBMs` for each MiB of its body
   * (a big page takes longer to build and send). fal publishes no latency figures; default none.
   */
  latency?: { fixedMs: number; perMiBMs?: number };
  /**
   * Answer in the shapes of fal's earlier published API where they changed: /organization/usage lines without
   * discount fields (lines that differ only by discount merged, `cost` only). Default: the current shapes.
   */
  legacyShapes?: boolean;
  /** Serve HTTPS with this PEM key and certificate (e.g. self-signed for 127.0.0.1), as fal does; default plain HTTP. */
  tls?: { key: string; cert: string };
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: Record<string, string[]>;
  /** HTTP status sent; 0 when the connection was reset without a response. */
  status: number;
  /** Date.now() (real ms) when the request arrived. */
  receivedAt: number;
  /** Date.now() (real ms) when the answer was handed to the socket; unset while pending or when reset. */
  answeredAt?: number;
  /** Account of the Authorization key when the emulator recognises it, else null. */
  account: string | null;
}

interface Truth {
  /** Visible (as of asOf, default emulator now) events with start <= timestamp < end, sorted by (timestamp, request_id). */
  events(account: string, start: Date, end: Date, asOf?: Date): Iterable<BillingEventTruth>;
  /** Sum of cost_estimate_nano_usd of visible events per UTC day (YYYY-MM-DD); days with no visible event are absent. */
  usageNanoByDay(account: string, start: Date, end: Date, asOf?: Date): Map<string, bigint>;
  totalNano(account: string, start: Date, end: Date, asOf?: Date): bigint;
  /** Number of visible events. */
  countEvents(account: string, start: Date, end: Date, asOf?: Date): number;
  /** UTC midnight of the first day with data. */
  readonly historyStart: Date;
  /** When fal-ai/veo3's unit price changes (inside the history, at 12:00 UTC so one day bucket has both prices). */
  readonly priceChangeAt: Date;
  /** Accounts with data: acme-ml, solo-dev, acme, acme-infra. */
  readonly accounts: readonly string[];
  /** The credit balance /v1/account/billing?expand=credits reports. */
  creditBalance(account: string): number;
  /** The generator behind the emulator, for advanced checks. */
  readonly world: World;
  /** The FOCUS invoice of a billing month (`YYYY-MM`, the issue month), or undefined when none is issued as of asOf (default now). */
  invoice(account: string, billingMonth: string, asOf?: Date): Invoice | undefined;
  /** When the invoice of a billing month is issued (its 4th day, 06:00 UTC). */
  invoiceIssuedAt(billingMonth: string): Date;
  /** Sum of serverless cost_total (nano-USD) per UTC day of an account's visible serverless events (/serverless/usage). */
  serverlessNanoByDay(account: string, start: Date, end: Date, asOf?: Date): Map<string, bigint>;
  /** Sum of /organization/usage `cost` (nano-USD) per UTC day for one team and product. */
  orgUsageNanoByDay(team: string, product: Product, start: Date, end: Date, asOf?: Date): Map<string, bigint>;
  /** /organization/billing-events of the org rooted at `orgRoot`: the teams' visible events with `username`, sorted. */
  orgEvents(orgRoot: string, start: Date, end: Date, asOf?: Date): OrgBillingEventTruth[];
  /** /organization/teams of the org rooted at `orgRoot`. */
  teams(orgRoot: string): TeamJson[];
  /** What /models/pricing lists for an endpoint id now; undefined for an id it answers 404 for. */
  price(endpointId: string): PriceJson | undefined;
}

export interface Emulator {
  /** Base URL including /v1, e.g. http://127.0.0.1:43123/v1 */
  url: string;
  port: number;
  now(): Date;
  setNow(d: Date | string): void;
  advance(ms: number): void;
  faults: Faults;
  requests: RequestLogEntry[];
  truth: Truth;
  close(): Promise<void>;
}

function requireOrg(orgRoot: string): NonNullable<ReturnType<typeof orgRootedAt>> {
  const org = orgRootedAt(orgRoot);
  if (!org) throw new Error(`emulator: ${orgRoot} is not an organization root`);
  return org;
}

function toMs(d: Date | string, what: string): number {
  const ms = typeof d === 'string' ? Date.parse(d) : d.getTime();
  if (!Number.isFinite(ms)) throw new Error(`emulator: invalid ${what}: ${String(d)}`);
  return ms;
}

function queryRecord(sp: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of sp) (out[k] ??= []).push(v);
  return out;
}

interface Reply {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers: Record<string, string>;
  isJson: boolean;
  /** Called once the body has been handed to the socket in full (not when truncated or reset). */
  onSent?: () => void;
}

const JSON_TYPE = 'application/json';

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const seed = opts.seed ?? 1;
  let nowMs = opts.now === undefined ? Math.floor(Date.now() / 1000) * 1000 : toMs(opts.now, 'now');
  const historyDays = opts.historyDays ?? 150;
  const eventsPerDay = opts.eventsPerDay ?? 120;
  if (!(historyDays >= 0) || !(eventsPerDay >= 0))
    throw new Error('emulator: historyDays and eventsPerDay must be >= 0');
  if (opts.latency && !(opts.latency.fixedMs >= 0 && (opts.latency.perMiBMs ?? 0) >= 0))
    throw new Error('emulator: latency must be >= 0');
  const historyStartDay = Math.floor((nowMs - historyDays * DAY_MS) / DAY_MS);
  const priceChangeAtSec = (historyStartDay + Math.floor(historyDays / 2)) * DAY_SEC + 12 * 3600;
  const world = new World({ seed, eventsPerDay, historyStartDay, priceChangeAtSec });
  const engine = new QueryEngine(world);
  const renderer = new BillingEventRenderer(world, opts.legacyShapes === true);
  const faults = new FaultSet();
  const requests: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();

  const reply = (
    status: number,
    body: string | Buffer,
    contentType = JSON_TYPE,
    headers: Record<string, string> = {},
  ): Reply => ({
    status,
    contentType,
    body,
    headers,
    isJson: contentType.startsWith(JSON_TYPE),
  });
  const requestIdFor = (req: IncomingMessage): string =>
    deterministicUuid(`${seed}|${req.method ?? ''}|${req.url ?? ''}|${nowMs}`);
  const errorReply = (
    req: IncomingMessage,
    status: number,
    type: ReturnType<typeof errorTypeForStatus>,
    message: string,
    docsUrl: string,
  ): Reply => reply(status, errorEnvelope(type, message, docsUrl, requestIdFor(req)));

  /** The real response to a request (no faults). */
  const realResponse = (req: IncomingMessage, pathname: string, sp: URLSearchParams): Reply => {
    const route = ROUTES.get(pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname);
    if (!route) return errorReply(req, 404, 'not_found', `No such endpoint: ${pathname}`, DOCS_BASE);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return errorReply(
        req,
        405,
        'validation_error',
        `Method ${req.method ?? ''} not allowed on ${pathname}`,
        route.docsUrl,
      );
    }
    const authDocs = 'https://fal.ai/docs/api-reference/platform-apis/authentication';
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Key\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      return errorReply(
        req,
        401,
        'authorization_error',
        "Missing or malformed Authorization header: expected 'Authorization: Key <FAL_KEY>'",
        authDocs,
      );
    }
    const key = findKey(m[1] as string);
    if (!key) return errorReply(req, 401, 'authorization_error', 'Invalid API key', authDocs);
    if (route.scope === 'ADMIN' && key.scope !== 'ADMIN') {
      return errorReply(
        req,
        403,
        'authorization_error',
        'This endpoint requires an Admin API key; the key used has API scope',
        authDocs,
      );
    }
    const account = world.account(key.account);
    if (!account) return errorReply(req, 403, 'authorization_error', 'The key is not attached to an account', authDocs);
    try {
      const out = route.handler({
        world,
        engine,
        renderer,
        nowMs,
        account,
        key,
        params: new Params(sp, route.docsUrl),
        legacy: opts.legacyShapes === true,
      });
      if (typeof out === 'string') return reply(200, out);
      return { ...reply(200, out.body, out.contentType ?? JSON_TYPE), onSent: out.onSent };
    } catch (err) {
      if (err instanceof ApiError)
        return errorReply(req, err.status, err.type, err.message, err.docsUrl ?? route.docsUrl);
      const msg = err instanceof Error ? err.message : String(err);
      return errorReply(req, 500, 'server_error', `Internal emulator error: ${msg}`, route.docsUrl);
    }
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    r: Reply,
    entry: RequestLogEntry,
    truncate = false,
  ): void => {
    if (res.destroyed) return;
    const buf = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
    entry.status = r.status;
    entry.answeredAt = Date.now();
    const headers: Record<string, string> = {
      'content-type': r.contentType,
      'content-length': String(buf.length),
      'x-fal-request-id': requestIdFor(req),
      ...r.headers,
    };
    res.writeHead(r.status, headers);
    if (req.method === 'HEAD') {
      res.end();
      r.onSent?.();
      return;
    }
    if (truncate) {
      res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => {
        res.destroy();
        req.socket.destroy();
      });
      return;
    }
    const onSent = r.onSent;
    if (onSent) res.end(buf, onSent);
    else res.end(buf);
  };

  const faultReply = (req: IncomingMessage, f: Extract<FaultAction, { kind: 'status' | 'body' }>): Reply => {
    if (f.kind === 'body') return reply(f.status ?? 200, f.body, f.contentType ?? JSON_TYPE);
    const headers = f.headers ?? {};
    if (f.body !== undefined) return reply(f.status, f.body, f.contentType ?? JSON_TYPE, headers);
    if (f.status === 502 || f.status === 503 || f.status === 504)
      return reply(f.status, gatewayHtml(f.status), f.contentType ?? 'text/html', headers);
    const type = errorTypeForStatus(f.status);
    const message = f.status === 429 ? 'Rate limit exceeded; retry later' : `Injected fault: HTTP ${f.status}`;
    return { ...errorReply(req, f.status, type, message, DOCS_BASE), headers };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const pathname = url.pathname;
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Key\s+(\S+)\s*$/i.exec(header);
    const entry: RequestLogEntry = {
      method: req.method ?? 'GET',
      path: pathname,
      query: queryRecord(url.searchParams),
      status: 0,
      receivedAt: Date.now(),
      account: m ? (findKey(m[1] as string)?.account ?? null) : null,
    };
    requests.push(entry);
    const fault = faults.take(pathname, url.searchParams);
    const respond = (): void => {
      if (res.destroyed) return;
      let r = realResponse(req, pathname, url.searchParams);
      if (fault?.kind === 'transform' && r.isJson) {
        try {
          const text = typeof r.body === 'string' ? r.body : r.body.toString('utf8');
          r.onSent?.();
          r = { ...r, body: JSON.stringify(fault.fn(JSON.parse(text) as unknown)) ?? 'null', onSent: undefined };
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          r = errorReply(req, 500, 'server_error', `transform fault threw: ${msg}`, DOCS_BASE);
        }
      }
      const latency = opts.latency;
      if (latency === undefined) return send(req, res, r, entry, fault?.kind === 'truncate');
      const size = typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.length;
      const delayMs = latency.fixedMs + ((latency.perMiBMs ?? 0) * size) / (1024 * 1024);
      const t = setTimeout(() => send(req, res, r, entry, fault?.kind === 'truncate'), delayMs);
      t.unref();
      res.on('close', () => clearTimeout(t));
    };
    if (fault === null) return respond();
    switch (fault.kind) {
      case 'reset':
        entry.status = 0;
        req.socket.resetAndDestroy();
        return;
      case 'status':
      case 'body':
        return send(req, res, faultReply(req, fault), entry);
      case 'latency': {
        const t = setTimeout(respond, fault.ms);
        t.unref();
        res.on('close', () => clearTimeout(t));
        return;
      }
      case 'truncate':
      case 'transform':
        return respond();
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    res.sendDate = false;
    try {
      handle(req, res);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': JSON_TYPE });
        res.end(errorEnvelope('server_error', `Internal emulator error: ${msg}`, DOCS_BASE, deterministicUuid(msg)));
      }
    }
  };
  const server = opts.tls
    ? createTlsServer({ keepAlive: true, key: opts.tls.key, cert: opts.tls.cert }, listener)
    : createServer({ keepAlive: true }, listener);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const asOfMs = (asOf?: Date): number => (asOf === undefined ? nowMs : asOf.getTime());
  const truth: Truth = {
    events: (account, start, end, asOf) => world.events(account, start.getTime(), end.getTime(), asOfMs(asOf)),
    usageNanoByDay: (account, start, end, asOf) =>
      world.usageNanoByDay(account, start.getTime(), end.getTime(), asOfMs(asOf)),
    totalNano: (account, start, end, asOf) => {
      let sum = 0n;
      for (const v of world.usageNanoByDay(account, start.getTime(), end.getTime(), asOfMs(asOf)).values()) sum += v;
      return sum;
    },
    countEvents: (account, start, end, asOf) => {
      let n = 0;
      for (const _ of world.events(account, start.getTime(), end.getTime(), asOfMs(asOf))) n++;
      return n;
    },
    historyStart: new Date(historyStartDay * DAY_MS),
    priceChangeAt: new Date(priceChangeAtSec * 1000),
    accounts: [...world.accounts.keys()],
    creditBalance: (account) => world.creditsCents(account) / 100,
    world,
    invoice: (account, billingMonth, asOf) => {
      const invoice = buildInvoice(world, engine, world.requireAccount(account), billingMonth);
      return invoice !== undefined && asOfMs(asOf) >= invoice.issuedAtMs ? invoice : undefined;
    },
    invoiceIssuedAt: (billingMonth) => new Date(invoiceIssuedAtMs(billingMonth)),
    serverlessNanoByDay: (account, start, end, asOf) =>
      serverlessOf(world).nanoByDay(account, start.getTime(), end.getTime(), asOfMs(asOf)),
    orgUsageNanoByDay: (team, product, start, end, asOf) =>
      orgUsageNanoByDay(world, team, product, start.getTime(), end.getTime(), asOfMs(asOf)),
    orgEvents: (orgRoot, start, end, asOf) =>
      orgEvents(world, requireOrg(orgRoot).teams, start.getTime(), end.getTime(), asOfMs(asOf)),
    teams: (orgRoot) => teamsOf(requireOrg(orgRoot), world),
    price: (endpointId) => priceOf(world, endpointId, nowMs),
  };

  let closed: Promise<void> | null = null;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/v1`,
    port,
    now: () => new Date(nowMs),
    setNow: (d) => {
      nowMs = toMs(d, 'now');
    },
    advance: (ms) => {
      if (!Number.isFinite(ms)) throw new Error(`emulator: advance needs a finite number of ms, got ${ms}`);
      nowMs += ms;
    },
    faults,
    requests,
    truth,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
