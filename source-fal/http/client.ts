/**
 * The only module that talks HTTP. One undici dispatcher (keep-alive pool) per run, the `Authorization: Key`
 * header, a user-agent, timeouts, the retry policy, and the mapping of HTTP failures onto the
 * error family. Streams call `client.getJson(path, query, schema)` and never import undici.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import type { z } from 'zod';

import {
  ApiError,
  ConfigError,
  type ErrorContext,
  InterruptedError,
  ResponseShapeError,
  TransientApiError,
} from '../errors.js';
import { redact, registerSecret } from '../redact.js';
import { packageVersion } from '../schemas.js';
import { AdaptiveLimit } from './limit.js';
import {
  announcedWaitMs,
  backoffDelayMs,
  DEFAULT_RETRY,
  isRetryableStatus,
  type RetryOptions,
  sleep,
} from './retry.js';

/** `source-fal/<package.json version> (+<project URL>)`, so fal can tell connector versions apart in its logs. */
function userAgent(): string {
  return `source-fal/${packageVersion()} (+https://github.com/source-fal/source-fal)`;
}

/**
 * Timeouts per attempt. A 10,000-row billing-events page is a few MB, so the body gets generous time. A timed-out
 * attempt is retried like a reset. `requestTimeoutMs` (env SOURCE_FAL_REQUEST_TIMEOUT_SECONDS) replaces the
 * headers and body timeouts, e.g. for a slow proxy or a test that must not wait a minute.
 */
const CONNECT_TIMEOUT_MS = 15_000;
const HEADERS_TIMEOUT_MS = 60_000;
const BODY_TIMEOUT_MS = 120_000;

type QueryValue = string | number | boolean | readonly string[] | undefined;
export type Query = Record<string, QueryValue>;

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Inject a MockAgent in tests; default is a keep-alive Agent owned (and closed) by the client. */
  dispatcher?: Dispatcher;
  retry?: Partial<RetryOptions>;
  /** Aborts in-flight requests and backoff sleeps (SIGTERM/SIGINT). */
  signal?: AbortSignal;
  /** Called before each retry wait, for logs and rate-limit stream statuses. */
  onRetry?: (info: RetryInfo) => void;
  /** Called after every attempt that got an HTTP response, for `--debug` logs. Carries no header values. */
  onResponse?: (info: ResponseInfo) => void;
  /** Per-attempt wait for response headers and between body chunks; default 60 s and 120 s. */
  requestTimeoutMs?: number;
  /** Replaceable for tests that must not sleep for real. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Requests in flight at once (config max_concurrent_requests); lowered after a 429, see limit.ts. Default 1. */
  maxConcurrentRequests?: number;
}

export interface RetryInfo {
  endpoint: string;
  /** The try about to be made after the wait; 0 when waiting out a rate limit announced on an earlier request. */
  attempt: number;
  delayMs: number;
  reason: string;
  status?: number;
  /** True when the wait came from Retry-After / x-ratelimit-reset. */
  announced: boolean;
}

interface ResponseInfo {
  endpoint: string;
  /** Path and query below the base URL (the query never carries the key). */
  target: string;
  status: number;
  elapsedMs: number;
  requestId: string | undefined;
}

export interface JsonResponse<T> {
  status: number;
  body: T;
  requestId: string | undefined;
  /**
   * For a status listed in `allowStatus`: fal's error envelope, when the body is one. A 404 without it did not come
   * from fal's API (a proxy, a wrong base_url), so it must not be read as fal's "not found".
   */
  error?: { type: string; message: string };
}

export interface TextResponse {
  status: number;
  text: string | undefined;
  requestId: string | undefined;
  /** fal's error envelope of an allowed non-2xx status, when the body is one. */
  error?: { type: string; message: string };
}

/**
 * True when an allowed 404 is fal's own "not found" (its error envelope). A 404 without the envelope came from
 * something else (a proxy, a wrong base_url); reading it as fal's answer would skip data, so it throws instead.
 */
export function isFalNotFound(response: { status: number; error?: unknown }, endpoint: string): boolean {
  if (response.status !== 404) return false;
  if (response.error === undefined) {
    throw new ApiError(`fal answered ${endpoint} with a 404 that is not fal's error envelope; check base_url.`, {
      endpoint,
      status: 404,
    });
  }
  return true;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export class FalClient {
  readonly baseUrl: string;
  readonly stats = { requests: 0, retries: 0, bytes: 0 };
  private readonly apiKey: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly retry: RetryOptions;
  private readonly options: ClientOptions;
  /**
   * The wall-clock instant before which no request may be sent, from the latest Retry-After / x-ratelimit-reset,
   * and when it was set. It holds for every request of this client (another page, another stream), not only the
   * one that was told to wait; a success of a request sent after it was set lifts it.
   */
  private gate = { notBeforeMs: 0, setAtMs: 0 };
  private readonly limit: AdaptiveLimit;
  private readonly userAgent = userAgent();

  constructor(options: ClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    // Whoever builds a client (not only parseConfig) gets the key scrubbed from fal's echoed error messages.
    registerSecret(options.apiKey);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.limit = new AdaptiveLimit(options.maxConcurrentRequests ?? 1);
    this.ownsDispatcher = options.dispatcher === undefined;
    const pool = {
      connect: { timeout: CONNECT_TIMEOUT_MS },
      keepAliveTimeout: 30_000,
      connections: Math.max(4, options.maxConcurrentRequests ?? 1),
      pipelining: 1,
    };
    // Behind an egress proxy: undici's own Agent ignores HTTPS_PROXY / HTTP_PROXY / NO_PROXY, EnvHttpProxyAgent
    // honours them (https://undici.nodejs.org/#/docs/api/EnvHttpProxyAgent). A private CA comes from
    // NODE_EXTRA_CA_CERTS, which Node reads at start-up.
    this.dispatcher =
      options.dispatcher ?? (proxyConfigured(process.env) ? new EnvHttpProxyAgent(pool) : new Agent(pool));
  }

  /**
   * GET a JSON endpoint and parse the body with `schema`. Statuses listed in `allowStatus` are returned to the
   * caller (with `body` undefined) instead of becoming errors, e.g. 404 "no invoice for that month yet".
   */
  async getJson<T>(path: string, query: Query, schema: z.ZodType<T>): Promise<JsonResponse<T>>;
  async getJson<T>(
    path: string,
    query: Query,
    schema: z.ZodType<T>,
    allowStatus: readonly number[],
  ): Promise<JsonResponse<T | undefined>>;
  async getJson<T>(
    path: string,
    query: Query,
    schema: z.ZodType<T>,
    allowStatus: readonly number[] = [],
  ): Promise<JsonResponse<T | undefined>> {
    const endpoint = `GET ${path}`;
    return this.withRetries(endpoint, path, query, allowStatus, (raw) => {
      if (allowStatus.includes(raw.status)) {
        const envelope = errorEnvelope(raw);
        return {
          status: raw.status,
          body: undefined,
          requestId: envelope?.request_id ?? headerText(raw.headers['x-fal-request-id']),
          error: envelope,
        };
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.text);
      } catch {
        // A 2xx body that is not JSON is almost always a body cut short; retry it like a reset.
        throw new RetryableBody(
          `the response body of ${endpoint} is not complete JSON (${raw.text.length} bytes)`,
          headerText(raw.headers['x-fal-request-id']),
        );
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issues = parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ');
        throw new ResponseShapeError(
          `fal's response to ${endpoint} does not have the expected shape (${issues}). fal may have changed its API; upgrade source-fal or report this.`,
          { endpoint, status: raw.status, requestId: headerText(raw.headers['x-fal-request-id']) },
        );
      }
      return { status: raw.status, body: parsed.data, requestId: headerText(raw.headers['x-fal-request-id']) };
    });
  }

  /**
   * GET a text endpoint (FOCUS CSV). Same retries and error mapping as JSON. For a status listed in `allowStatus`,
   * `text` is undefined and `error` carries fal's error envelope (when the body is one), so the caller can say
   * what the status means for its endpoint without losing fal's words or request id.
   */
  async getText(path: string, query: Query, allowStatus: readonly number[] = []): Promise<TextResponse> {
    return this.withRetries(`GET ${path}`, path, query, allowStatus, (raw) => {
      const requestId = headerText(raw.headers['x-fal-request-id']);
      if (!allowStatus.includes(raw.status)) return { status: raw.status, text: raw.text, requestId };
      const envelope = errorEnvelope(raw);
      return { status: raw.status, text: undefined, requestId: envelope?.request_id ?? requestId, error: envelope };
    });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async withRetries<R>(
    endpoint: string,
    path: string,
    query: Query,
    allowStatus: readonly number[],
    handle: (raw: RawResponse) => R,
  ): Promise<R> {
    const target = `${path}${buildQuery(query)}`;
    const url = `${this.baseUrl}${target}`;
    const started = Date.now();
    const sleeper = this.options.sleep ?? sleep;
    await this.waitForGate(endpoint, started, sleeper);
    for (let attempt = 0; ; attempt++) {
      let failure: { reason: string; status?: number; waitMs?: number; requestId?: string };
      const sentAt = Date.now();
      try {
        const raw = await this.send(url, endpoint);
        const envelope = raw.status >= 300 ? errorEnvelope(raw) : undefined;
        // fal's envelope carries the request id; a gateway's HTML error page does not, the response header does.
        const requestId = envelope?.request_id ?? headerText(raw.headers['x-fal-request-id']);
        this.options.onResponse?.({ endpoint, target, status: raw.status, elapsedMs: Date.now() - sentAt, requestId });
        if (raw.status >= 200 && raw.status < 300) {
          if (sentAt >= this.gate.setAtMs) this.gate = { notBeforeMs: 0, setAtMs: 0 };
          return handle(raw);
        }
        if (allowStatus.includes(raw.status)) return handle(raw);
        const context: ErrorContext = { endpoint, status: raw.status, requestId };
        if (!isRetryableStatus(raw.status, this.retry)) throw statusError(raw.status, envelope, context);
        failure = {
          reason: `HTTP ${raw.status}${envelope ? ` ${envelope.type}: ${envelope.message}` : ''}`,
          status: raw.status,
          waitMs: announcedWaitMs(raw.headers, Date.now()),
          requestId,
        };
        if (failure.waitMs !== undefined) this.holdGate(Date.now() + failure.waitMs);
      } catch (error) {
        if (error instanceof RetryableBody) failure = { reason: error.message, requestId: error.requestId };
        else if (this.options.signal?.aborted) throw interrupted(endpoint);
        else if (errorCode(error) === 'ENOTFOUND') throw this.unresolvable(endpoint);
        else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(errorCode(error) ?? ''))
          throw this.untrusted(endpoint, errorCode(error) ?? '');
        else if (isNetworkError(error)) failure = { reason: networkReason(error) };
        else throw error;
      }
      const elapsed = Date.now() - started;
      const computed = backoffDelayMs(attempt, this.retry, this.options.random);
      const delayMs = Math.max(computed, failure.waitMs ?? 0);
      const budgetLeft = this.retry.maxElapsedMs - elapsed;
      const context: ErrorContext = { endpoint, status: failure.status, requestId: failure.requestId };
      if (attempt >= this.retry.maxRetries || delayMs > budgetLeft) {
        const why =
          failure.waitMs !== undefined && failure.waitMs > budgetLeft
            ? `fal asked to wait ${Math.ceil(failure.waitMs / 1000)} s, beyond the retry budget`
            : `gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'} in ${Math.round(elapsed / 1000)} s`;
        throw new TransientApiError(
          `fal did not answer ${endpoint} successfully (${failure.reason}); ${why}. This is usually temporary: run the sync again later, or raise max_retry_seconds.`,
          context,
          { retryAfterMs: failure.waitMs },
        );
      }
      this.stats.retries++;
      this.options.onRetry?.({
        endpoint,
        attempt: attempt + 1,
        delayMs,
        reason: failure.reason,
        status: failure.status,
        announced: failure.waitMs !== undefined,
      });
      try {
        await sleeper(delayMs, this.options.signal);
      } catch {
        throw interrupted(endpoint);
      }
    }
  }

  /**
   * The name in base_url does not exist (DNS answered NXDOMAIN). That is the config's to fix, not something a retry
   * mends; a DNS server that did not answer (EAI_AGAIN) is retried like any network failure.
   */
  private unresolvable(endpoint: string): ConfigError {
    let host = this.baseUrl;
    try {
      host = new URL(this.baseUrl).hostname;
    } catch {
      // parseConfig only lets URLs through; keep the whole base_url in the message otherwise.
    }
    return new ConfigError(
      'unresolvable_host',
      `The host ${host} does not resolve (DNS: ENOTFOUND), so fal cannot be reached at ${this.baseUrl}. Check base_url (fal's is https://api.fal.ai/v1), and the machine's DNS or proxy settings (HTTPS_PROXY).`,
      { endpoint },
    );
  }

  /** A certificate Node does not trust: retrying cannot help, a CA bundle can (TLS-inspecting proxies). */
  private untrusted(endpoint: string, code: string): ConfigError {
    return new ConfigError(
      'tls_untrusted',
      `The TLS certificate presented for ${this.baseUrl} is not trusted (${code}). If a proxy inspects TLS with its own certificate authority, give that CA to Node: NODE_EXTRA_CA_CERTS=/path/to/ca.pem. Otherwise check base_url.`,
      { endpoint },
    );
  }

  private holdGate(notBeforeMs: number): void {
    if (notBeforeMs > this.gate.notBeforeMs) this.gate = { notBeforeMs, setAtMs: Date.now() };
  }

  /** Before a new request: wait out a wait fal announced on an earlier one, or fail now if it passes the budget. */
  private async waitForGate(
    endpoint: string,
    started: number,
    sleeper: NonNullable<ClientOptions['sleep']>,
  ): Promise<void> {
    const waitMs = this.gate.notBeforeMs - started;
    if (waitMs <= 0) return;
    if (waitMs > this.retry.maxElapsedMs) {
      throw new TransientApiError(
        `fal asked not to be called again before ${new Date(this.gate.notBeforeMs).toISOString()} (a rate limit announced on an earlier request), beyond the retry budget, so ${endpoint} was not sent. This is usually temporary: run the sync again later, or raise max_retry_seconds.`,
        { endpoint },
        { retryAfterMs: waitMs },
      );
    }
    this.options.onRetry?.({
      endpoint,
      attempt: 0,
      delayMs: waitMs,
      reason: 'a rate limit fal announced on an earlier request',
      announced: true,
    });
    try {
      await sleeper(waitMs, this.options.signal);
    } catch {
      throw interrupted(endpoint);
    }
  }

  private async send(url: string, endpoint: string): Promise<RawResponse> {
    if (this.options.signal?.aborted) throw interrupted(endpoint);
    try {
      await this.limit.acquire(this.options.signal);
    } catch {
      throw interrupted(endpoint);
    }
    let outcome: 'success' | 'rate_limited' | 'other' = 'other';
    try {
      this.stats.requests++;
      const response = await request(url, {
        method: 'GET',
        dispatcher: this.dispatcher,
        signal: this.options.signal,
        headersTimeout: this.options.requestTimeoutMs ?? HEADERS_TIMEOUT_MS,
        bodyTimeout: this.options.requestTimeoutMs ?? BODY_TIMEOUT_MS,
        headers: {
          authorization: `Key ${this.apiKey}`,
          accept: 'application/json, text/csv;q=0.9',
          'user-agent': this.userAgent,
        },
      });
      const text = await response.body.text();
      this.stats.bytes += text.length;
      outcome = response.statusCode === 429 ? 'rate_limited' : response.statusCode < 300 ? 'success' : 'other';
      return { status: response.statusCode, headers: response.headers, text };
    } finally {
      this.limit.release(outcome);
    }
  }

  /** Requests allowed in flight now (lowered after a 429, then grown back). */
  get concurrency(): number {
    return this.limit.current;
  }
}

function proxyConfigured(env: NodeJS.ProcessEnv): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => (env[name] ?? '').trim() !== '');
}

/** Raised inside the retry loop for a 2xx body that did not parse. */
class RetryableBody extends Error {
  constructor(
    message: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

function parseErrorEnvelope(text: string): { type: string; message: string; request_id?: string } | undefined {
  try {
    const json: unknown = JSON.parse(text);
    if (json === null || typeof json !== 'object' || !('error' in json)) return undefined;
    const error: unknown = json.error;
    if (error === null || typeof error !== 'object') return undefined;
    const type = 'type' in error && typeof error.type === 'string' ? error.type : 'unknown';
    const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
    const requestId = 'request_id' in error && typeof error.request_id === 'string' ? error.request_id : undefined;
    return { type, message: redact(message).slice(0, 500), request_id: requestId };
  } catch {
    return undefined;
  }
}

/** fal's error envelope `{"error":{"type","message","request_id"}}`, only when the body is JSON. */
function errorEnvelope(raw: RawResponse): { type: string; message: string; request_id?: string } | undefined {
  const contentType = headerText(raw.headers['content-type']) ?? '';
  return contentType.includes('json') ? parseErrorEnvelope(raw.text) : undefined;
}

function statusError(
  status: number,
  envelope: { type: string; message: string } | undefined,
  context: ErrorContext,
): Error {
  const said = envelope?.message ? ` fal says: "${envelope.message}".` : '';
  if (status === 401) {
    return new ConfigError(
      'invalid_api_key',
      `fal rejected the API key (401).${said} Check api_key: it must be a current fal key in the form <key id>:<secret>, with the ADMIN scope.`,
      context,
    );
  }
  if (status === 403) {
    // fal's organization endpoints need more than the ADMIN scope: the key must belong to the org's root team.
    const action = context.endpoint?.startsWith('GET /organization/')
      ? "Organization endpoints need an ADMIN key of the organization's root team (fal organizations are an enterprise feature): use such a key, or leave the organization streams out of the catalog."
      : 'Usage and billing APIs need an ADMIN-scope key: create one in the fal dashboard (API Keys → Add key → scope Admin) and set api_key.';
    return new ConfigError(
      'forbidden',
      `fal refused ${context.endpoint ?? 'the request'} for this key (403).${said} ${action}`,
      context,
    );
  }
  return new ApiError(
    `fal answered ${context.endpoint ?? 'a request'} with HTTP ${status}${envelope ? ` (${envelope.type})` : ''}.${said}`,
    context,
  );
}

function interrupted(endpoint: string): InterruptedError {
  return new InterruptedError(
    'The run was interrupted (SIGTERM/SIGINT) before this request finished; rerun to resume from the saved state.',
    { endpoint },
  );
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

function isNetworkError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = 'code' in current ? current.code : undefined;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (current.name === 'TypeError' && /fetch failed|terminated/.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/** The first error code along the cause chain (undici wraps the socket's error). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = 'code' in current ? current.code : undefined;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

function networkReason(error: unknown): string {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return redact(`${typeof code === 'string' ? `${code}: ` : ''}${message}`);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Multi-value params go comma-separated, which fal accepts for every list filter. */
function buildQuery(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    params.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}
