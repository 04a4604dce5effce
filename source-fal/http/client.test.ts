import { readFileSync } from 'node:fs';

import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import {
  ApiError,
  ConfigError,
  InterruptedError,
  ResponseShapeError,
  type SourceFalError,
  TransientApiError,
} from '../errors.js';
import { clearSecretsForTest } from '../redact.js';
import { FalClient, type RetryInfo } from './client.js';

const ORIGIN = 'https://api.fal.ai';
const KEY = 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f';
const KEY_SECRET_HALF = '9c1d2e3f4a5b6c7d8e9f';
const JSON_HEADERS = { 'content-type': 'application/json' };
const KEYS_BODY = { keys: [{ key_id: 'kid-7f3a', alias: 'prod' }], next_cursor: null, has_more: false };
const KeysPage = z.object({ keys: z.array(z.object({ key_id: z.string() }).loose()) });

let mockAgent: MockAgent;
let sleeps: number[];
let retries: RetryInfo[];

function falError(type: string, message: string, requestId?: string): string {
  return JSON.stringify({ error: { type, message, ...(requestId ? { request_id: requestId } : {}) } });
}

function client(overrides: Partial<ConstructorParameters<typeof FalClient>[0]> = {}): FalClient {
  return new FalClient({
    baseUrl: `${ORIGIN}/v1`,
    apiKey: KEY,
    dispatcher: mockAgent,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    onRetry: (info) => retries.push(info),
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<SourceFalError> {
  try {
    await promise;
  } catch (error) {
    return error as SourceFalError;
  }
  throw new Error('expected the request to fail');
}

const keys = () => mockAgent.get(ORIGIN).intercept({ path: '/v1/keys', method: 'GET' });

beforeEach(() => {
  clearSecretsForTest();
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
  sleeps = [];
  retries = [];
});

afterEach(async () => {
  vi.useRealTimers();
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

describe('FalClient retries', () => {
  it('given a 429 with Retry-After when requested then it waits at least the announced time and returns the next 200', async () => {
    // Regression: a computed 1 s backoff under a 7 s Retry-After just earns another 429.
    keys().reply(429, falError('rate_limited', 'Too many requests'), {
      headers: { ...JSON_HEADERS, 'retry-after': '7' },
    });
    keys().reply(200, KEYS_BODY, { headers: JSON_HEADERS });

    const response = await client().getJson('/keys', {}, KeysPage);

    expect(response.body).toEqual({ keys: [{ key_id: 'kid-7f3a', alias: 'prod' }] });
    expect(sleeps).toEqual([7_000]);
    expect(retries).toEqual([
      {
        endpoint: 'GET /keys',
        attempt: 1,
        delayMs: 7_000,
        reason: 'HTTP 429 rate_limited: Too many requests',
        status: 429,
        announced: true,
      },
    ]);
  });

  it('given a 503 with an HTML body when requested then it backs off and returns the next 200', async () => {
    // Gateways in front of fal answer 5xx with HTML; parsing it as fal's envelope must not crash the retry.
    keys().reply(503, '<html><body>503 Service Temporarily Unavailable</body></html>', {
      headers: { 'content-type': 'text/html' },
    });
    keys().reply(200, KEYS_BODY, { headers: JSON_HEADERS });

    const response = await client().getJson('/keys', {}, KeysPage);

    expect(response.status).toBe(200);
    expect(sleeps).toEqual([1_000]);
    expect(retries.map((r) => [r.reason, r.status, r.announced])).toEqual([['HTTP 503', 503, false]]);
  });

  it('given a connection reset when requested then it is retried and the next 200 is returned', async () => {
    keys().replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    keys().reply(200, KEYS_BODY, { headers: JSON_HEADERS });

    const c = client();
    const response = await c.getJson('/keys', {}, KeysPage);

    expect(response.body.keys).toHaveLength(1);
    expect(sleeps).toEqual([1_000]);
    expect(retries.map((r) => r.reason)).toEqual(['ECONNRESET: socket hang up']);
    expect(c.stats).toMatchObject({ requests: 2, retries: 1 });
  });

  it('given a 200 whose JSON is cut short when requested then it is retried like a reset', async () => {
    // Regression: a truncated 200 body surfaced as a fatal SyntaxError instead of being fetched again.
    keys().reply(200, '{"keys":[{"key_id":"kid-7f3a","al', { headers: JSON_HEADERS });
    keys().reply(200, KEYS_BODY, { headers: JSON_HEADERS });

    const response = await client().getJson('/keys', {}, KeysPage);

    expect(response.body.keys).toEqual([{ key_id: 'kid-7f3a', alias: 'prod' }]);
    expect(sleeps).toEqual([1_000]);
    expect(retries.map((r) => r.reason)).toEqual(['the response body of GET /keys is not complete JSON (33 bytes)']);
  });

  it('given 503 until the retry count is spent when requested then a TransientApiError names the endpoint', async () => {
    keys()
      .reply(503, 'upstream unavailable', { headers: { 'content-type': 'text/plain' } })
      .times(3);

    const error = await rejection(client({ retry: { maxRetries: 2 } }).getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    expect(error.failureType).toBe('transient_error');
    expect(error.code).toBe('transient_api_error');
    expect(error.message).toBe(
      'fal did not answer GET /keys successfully (HTTP 503); gave up after 3 attempts in 0 s. This is usually temporary: run the sync again later, or raise max_retry_seconds.',
    );
    expect(error.context).toEqual({ endpoint: 'GET /keys', status: 503, requestId: undefined });
    expect(sleeps).toEqual([1_000, 2_000]);
  });

  it('given 503 until the time budget is spent when requested then it stops before a wait that would pass the budget', async () => {
    // The injected sleep moves the clock, so elapsed time is what the budget sees.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.UTC(2026, 6, 27, 15, 30));
    keys()
      .reply(503, 'busy', { headers: { 'content-type': 'text/plain' } })
      .times(3);
    const c = client({
      retry: { maxElapsedMs: 5_000 },
      sleep: async (ms) => {
        sleeps.push(ms);
        vi.setSystemTime(Date.now() + ms);
      },
    });

    const error = await rejection(c.getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    // 1 s + 2 s slept; the next step (4 s) would end past the 5 s budget, so it gives up at once.
    expect(sleeps).toEqual([1_000, 2_000]);
    expect(error.message).toContain('gave up after 3 attempts in 3 s');
  });

  it('given a 429 announcing a wait longer than the budget when requested then it fails at once without sleeping', async () => {
    keys().reply(429, falError('rate_limited', 'Slow down'), { headers: { ...JSON_HEADERS, 'retry-after': '3600' } });

    const error = await rejection(client().getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    expect((error as TransientApiError).retryAfterMs).toBe(3_600_000);
    expect(error.message).toBe(
      'fal did not answer GET /keys successfully (HTTP 429 rate_limited: Slow down); fal asked to wait 3600 s, beyond the retry budget. This is usually temporary: run the sync again later, or raise max_retry_seconds.',
    );
    expect(sleeps).toEqual([]);
  });

  it('given truncated 200 bodies until retries run out when requested then a TransientApiError, not a parse error', async () => {
    keys().reply(200, '{"keys":[', { headers: JSON_HEADERS }).times(2);

    const error = await rejection(client({ retry: { maxRetries: 1 } }).getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    expect(error.message).toContain(
      '(the response body of GET /keys is not complete JSON (9 bytes)); gave up after 2 attempts',
    );
  });

  it('given an abort during the backoff when requested then an InterruptedError and no further request', async () => {
    const controller = new AbortController();
    keys().reply(503, 'busy');
    const c = client({
      signal: controller.signal,
      sleep: async (ms, signal) => {
        sleeps.push(ms);
        controller.abort();
        throw signal?.reason;
      },
    });

    const error = await rejection(c.getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.context.endpoint).toBe('GET /keys');
    expect(c.stats.requests).toBe(1);
  });
});

describe('FalClient rate-limit gate', () => {
  it('given a 429 announcing more than the budget when the next request (another page or stream) starts then it fails at once without being sent', async () => {
    // Regression: the stream that met the long rate limit failed, and the next stream called fal right away.
    keys().reply(429, falError('rate_limited', 'Slow down'), { headers: { ...JSON_HEADERS, 'retry-after': '3600' } });
    const c = client();

    await rejection(c.getJson('/keys', {}, KeysPage));
    const error = await rejection(c.getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    expect(error.message).toMatch(
      /^fal asked not to be called again before \S+Z \(a rate limit announced on an earlier request\), beyond the retry budget, so GET \/keys was not sent\./,
    );
    expect(c.stats.requests).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('given a 429 announcing a wait within the budget when a concurrent request starts then it waits until the announced instant first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.UTC(2026, 6, 27, 15, 30));
    keys().reply(429, falError('rate_limited', 'Slow down'), { headers: { ...JSON_HEADERS, 'retry-after': '7' } });
    keys().reply(200, KEYS_BODY, { headers: JSON_HEADERS }).times(2);
    // The first request meets the 429 and sleeps; one second later a second request starts, then both go on.
    let firstAsleep: () => void = () => undefined;
    let secondWaited: () => void = () => undefined;
    const firstIsAsleep = new Promise<void>((resolve) => (firstAsleep = resolve));
    const secondHasWaited = new Promise<void>((resolve) => (secondWaited = resolve));
    const c = client({
      sleep: async (ms) => {
        sleeps.push(ms);
        if (sleeps.length === 1) {
          vi.setSystemTime(Date.now() + 1_000);
          firstAsleep();
          // Without the gate the second request never sleeps; do not hang the suite waiting for it.
          await Promise.race([secondHasWaited, new Promise((resolve) => setTimeout(resolve, 500))]);
        } else {
          secondWaited();
        }
      },
    });

    const first = c.getJson('/keys', {}, KeysPage);
    await firstIsAsleep;
    await c.getJson('/keys', {}, KeysPage);
    await first;

    // 7 s for the first request's own retry; the second waited the 6 s still left of the announced 7 s.
    expect(sleeps).toEqual([7_000, 6_000]);
    expect(c.stats.requests).toBe(3);
  });

  it('given a gateway 502 without an envelope when retries run out then the error carries the request id from the response header', async () => {
    keys().reply(502, '<html>502 Bad Gateway</html>', {
      headers: { 'content-type': 'text/html', 'x-fal-request-id': 'req-gw' },
    });

    const error = await rejection(client({ retry: { maxRetries: 0 } }).getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(TransientApiError);
    expect(error.context).toEqual({ endpoint: 'GET /keys', status: 502, requestId: 'req-gw' });
    expect(error.describe()).toContain('fal request id req-gw');
  });

  it('given responses when requested then onResponse reports endpoint, target, status and request id, never a header value', async () => {
    keys().reply(503, 'busy', { headers: { 'content-type': 'text/plain', 'x-fal-request-id': 'req-1' } });
    keys().reply(200, KEYS_BODY, { headers: { ...JSON_HEADERS, 'x-fal-request-id': 'req-2' } });
    const seen: unknown[] = [];

    await client({ onResponse: (info) => seen.push({ ...info, elapsedMs: typeof info.elapsedMs }) }).getJson(
      '/keys',
      {},
      KeysPage,
    );

    expect(seen).toEqual([
      { endpoint: 'GET /keys', target: '/keys', status: 503, elapsedMs: 'number', requestId: 'req-1' },
      { endpoint: 'GET /keys', target: '/keys', status: 200, elapsedMs: 'number', requestId: 'req-2' },
    ]);
  });
});

describe('FalClient error mapping', () => {
  it('given a 401 when requested then a ConfigError invalid_api_key, without retrying', async () => {
    keys().reply(401, falError('authorization_error', 'Invalid key', 'req-401'), { headers: JSON_HEADERS });

    const error = await rejection(client().getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('invalid_api_key');
    expect(error.failureType).toBe('config_error');
    expect(error.message).toBe(
      'fal rejected the API key (401). fal says: "Invalid key". Check api_key: it must be a current fal key in the form <key id>:<secret>, with the ADMIN scope.',
    );
    expect(error.context).toEqual({ endpoint: 'GET /keys', status: 401, requestId: 'req-401' });
    expect(sleeps).toEqual([]);
  });

  it('given a 403 when requested then a ConfigError that asks for an ADMIN-scope key', async () => {
    keys().reply(403, falError('authorization_error', 'API key scope is not ADMIN'), { headers: JSON_HEADERS });

    const error = await rejection(client().getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('forbidden');
    expect(error.failureType).toBe('config_error');
    expect(error.message).toContain(
      'fal refused GET /keys for this key (403). fal says: "API key scope is not ADMIN".',
    );
    expect(error.message).toContain('create one in the fal dashboard (API Keys → Add key → scope Admin)');
    expect(sleeps).toEqual([]);
  });

  it("given a 400 with fal's error envelope when requested then an ApiError with fal's message and request id", async () => {
    keys().reply(400, falError('validation_error', 'limit must be at most 100', 'req-7e1c'), { headers: JSON_HEADERS });

    const error = await rejection(client().getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(ApiError);
    expect(error.failureType).toBe('system_error');
    expect(error.message).toBe(
      'fal answered GET /keys with HTTP 400 (validation_error). fal says: "limit must be at most 100".',
    );
    expect(error.context).toEqual({ endpoint: 'GET /keys', status: 400, requestId: 'req-7e1c' });
    expect(error.describe()).toBe(
      'fal answered GET /keys with HTTP 400 (validation_error). fal says: "limit must be at most 100". [GET /keys; HTTP 400; fal request id req-7e1c]',
    );
  });

  it("given a 404 the caller allows when requested then it returns the status with no body and fal's error envelope", async () => {
    keys().reply(404, falError('not_found', 'No invoice for 2026-07', 'req-404'), { headers: JSON_HEADERS });

    const response = await client().getJson('/keys', {}, KeysPage, [404]);

    expect(response).toEqual({
      status: 404,
      body: undefined,
      requestId: 'req-404',
      error: { type: 'not_found', message: 'No invoice for 2026-07', request_id: 'req-404' },
    });
  });

  it("given a 404 the caller allows that is not fal's envelope (a proxy page) when requested then no error envelope comes back", async () => {
    keys().reply(404, '<html>Not Found</html>', { headers: { 'content-type': 'text/html' } });

    const response = await client().getJson('/keys', {}, KeysPage, [404]);

    expect(response.status).toBe(404);
    expect(response.error).toBeUndefined();
  });

  it('given a 200 of the wrong shape when requested then a ResponseShapeError naming the endpoint and request id', async () => {
    // Regression: a renamed items array read as an empty page and the sync "succeeded" with zero rows.
    keys().reply(200, { api_keys: [] }, { headers: { ...JSON_HEADERS, 'x-fal-request-id': 'req-shape' } });

    const error = await rejection(client().getJson('/keys', {}, KeysPage));

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect(error.failureType).toBe('system_error');
    expect(error.message).toBe(
      "fal's response to GET /keys does not have the expected shape (keys: Invalid input: expected array, received undefined). fal may have changed its API; upgrade source-fal or report this.",
    );
    expect(error.context).toEqual({ endpoint: 'GET /keys', status: 200, requestId: 'req-shape' });
    expect(sleeps).toEqual([]);
  });
});

describe('FalClient requests', () => {
  it('given a request when sent then Authorization is exactly "Key <key>" and the user-agent is source-fal/<version>', async () => {
    const seen: Array<Record<string, string>> = [];
    keys().reply((opts) => {
      seen.push(Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])));
      return { statusCode: 200, data: KEYS_BODY, responseOptions: { headers: JSON_HEADERS } };
    });

    await client().getJson('/keys', {}, KeysPage);

    expect(seen).toHaveLength(1);
    expect(seen[0]?.authorization).toBe(`Key ${KEY}`);
    expect(seen[0]?.['user-agent']).toMatch(/^source-fal\/\d+\.\d+\.\d+/);
  });

  it('given a query with a list and an undefined value when sent then the list is comma-joined and the undefined is left out', async () => {
    const paths: string[] = [];
    mockAgent
      .get(ORIGIN)
      .intercept({ path: (p) => p.startsWith('/v1/models/usage'), method: 'GET' })
      .reply((opts) => {
        paths.push(opts.path);
        return { statusCode: 200, data: KEYS_BODY, responseOptions: { headers: JSON_HEADERS } };
      });

    await client().getJson(
      '/models/usage',
      { expand: ['time_series', 'auth_method_structured'], cursor: undefined, limit: 100, bound_to_timeframe: false },
      KeysPage,
    );

    expect(paths).toEqual([
      '/v1/models/usage?expand=time_series%2Cauth_method_structured&limit=100&bound_to_timeframe=false',
    ]);
  });

  it('given fal echoes the API key in every kind of failure when requested then no thrown message contains the key', async () => {
    // The key is registered for redaction by the client itself, not only by parseConfig.
    const echo = `Key ${KEY} is not valid`;
    keys().reply(401, falError('authorization_error', echo), { headers: JSON_HEADERS });
    keys().reply(400, falError('validation_error', echo), { headers: JSON_HEADERS });
    keys().reply(503, falError('server_error', echo), { headers: JSON_HEADERS });
    keys().reply(200, { detail: echo }, { headers: JSON_HEADERS });
    keys().replyWithError(Object.assign(new Error(echo), { code: 'ECONNRESET' }));

    const c = client({ retry: { maxRetries: 0 } });
    const errors: SourceFalError[] = [];
    for (let i = 0; i < 5; i++) errors.push(await rejection(c.getJson('/keys', {}, KeysPage)));

    expect(errors.map((e) => e.constructor.name)).toEqual([
      'ConfigError',
      'ApiError',
      'TransientApiError',
      'ResponseShapeError',
      'TransientApiError',
    ]);
    for (const error of errors) {
      expect(error.describe()).not.toContain(KEY_SECRET_HALF);
      expect(error.message).not.toContain(KEY);
    }
    expect(errors[0]?.message).toContain('fal says: "Key **** is not valid"');
  });
});

describe('FalClient user-agent', () => {
  it('given the package version when a request is sent then the user-agent names that version', async () => {
    const pkg = z
      .object({ version: z.string() })
      .parse(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')));
    let sent: unknown;
    mockAgent
      .get(ORIGIN)
      .intercept({ path: '/v1/keys', method: 'GET' })
      .reply((options) => {
        sent = new Headers(options.headers as Record<string, string>).get('user-agent');
        return {
          statusCode: 200,
          data: { keys: [] },
          responseOptions: { headers: { 'content-type': 'application/json' } },
        };
      });

    await client().getJson('/keys', {}, z.object({ keys: z.array(z.unknown()) }));

    expect(sent).toBe(`source-fal/${pkg.version} (+https://github.com/source-fal/source-fal)`);
  });
});
