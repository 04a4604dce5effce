/**
 * Retries, rate limits and outages, end to end: the built CLI against the fal emulator's fault modes. Every case ends
 * in an exact outcome: the records upserted by primary key equal the emulator's truth to the nano-dollar, or the
 * documented TRACE ERROR, state and exit code within a bounded time.
 *
 * Each case has its own emulator, so the cases run concurrently: most of their time is spent in backoff sleeps.
 * The emulated window layout (start 14 days before the pinned clock, daily buckets): usage requests
 * #0-#2 are the three pages of window 1, #3-#4 window 2, #5 window 3.
 */
import { describe, it } from 'vitest';

import type { FaultRule } from '../../source-fal/emulator/faults.js';
import { statuses, traces } from '../helpers/cli.js';
import {
  errorTraces,
  EXIT_SLACK_MS,
  lastCursor,
  LONG_TEST_MS,
  nanoByDay,
  resumeState,
  type Scenario,
  scenario,
  STACK_FRAME,
  STREAM,
  STREAM_PATH,
  streamRequests,
  usageRecords,
  windowInMessage,
  windowOf,
} from './harness.js';

const WINDOW_2 = '2026-11-18T00:00:00Z/2026-11-25T00:00:00Z';
const PAGES_OF_WINDOW_1 = 3;

async function withScenario<T>(options: Parameters<typeof scenario>[0], body: (s: Scenario) => Promise<T>): Promise<T> {
  const s = await scenario(options);
  try {
    return await body(s);
  } finally {
    await s.close();
  }
}

const warnings = (r: { messages: { type: string; log?: unknown }[] }): string[] =>
  r.messages
    .filter((m) => m.type === 'LOG' && (m.log as { level: string }).level === 'WARN')
    .map((m) => (m.log as { message: string }).message);

describe.concurrent('given a transient failure on one page mid-window', () => {
  const onePage = (fault: Partial<FaultRule> & Pick<FaultRule, 'kind'>): FaultRule =>
    ({ path: STREAM_PATH, after: 1, times: 1, ...fault }) as FaultRule;
  it.for<[string, FaultRule, RegExp]>([
    ['HTTP 408', onePage({ kind: 'status', status: 408 }), /HTTP 408/],
    ['HTTP 429 without a wait header', onePage({ kind: 'status', status: 429 }), /HTTP 429 rate_limited/],
    ['HTTP 500', onePage({ kind: 'status', status: 500 }), /HTTP 500 server_error/],
    ['HTTP 502 (gateway HTML)', onePage({ kind: 'status', status: 502 }), /HTTP 502/],
    ['HTTP 503 (gateway HTML)', onePage({ kind: 'status', status: 503 }), /HTTP 503/],
    ['HTTP 504 (gateway HTML)', onePage({ kind: 'status', status: 504 }), /HTTP 504/],
    ['a connection reset', onePage({ kind: 'reset' }), /ECONNRESET|socket|other side closed/i],
    ['a body cut off mid-way', onePage({ kind: 'truncate' }), /terminated|socket|content-length|not complete JSON/i],
    [
      'a 200 whose body is not JSON',
      onePage({ kind: 'body', body: '{"time_series":[{"bucket":' }),
      /not complete JSON/,
    ],
  ])(
    'when %s is met then the page is fetched again and the records equal the truth',
    async ([_label, fault, reason], { expect }) => {
      await withScenario({}, async (s) => {
        s.emu.faults.add(fault);
        const r = await s.read();

        expect(r.code, r.stderr).toBe(0);
        expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
        const requests = streamRequests(s.emu);
        // The failed page and its retry ask for the same window and cursor; nothing else repeats.
        expect(requests).toHaveLength(6 + 1);
        expect(windowOf(requests[1]!)).toBe(windowOf(requests[2]!));
        expect(requests[1]?.query.cursor).toEqual(requests[2]?.query.cursor);
        expect(warnings(r).join('\n')).toMatch(reason);
        expect(errorTraces(r)).toEqual([]);
      });
    },
  );

  it('when a burst of 500, 502, a reset and a truncated body hits one page in a row then it keeps retrying and the records equal the truth', async ({
    expect,
  }) => {
    await withScenario({}, async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, after: 1, times: 1, kind: 'status', status: 500 });
      s.emu.faults.add({ path: STREAM_PATH, after: 2, times: 1, kind: 'status', status: 502 });
      s.emu.faults.add({ path: STREAM_PATH, after: 3, times: 1, kind: 'reset' });
      s.emu.faults.add({ path: STREAM_PATH, after: 4, times: 1, kind: 'truncate' });
      const r = await s.read();

      expect(r.code, r.stderr).toBe(0);
      expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
      const requests = streamRequests(s.emu);
      expect(requests).toHaveLength(6 + 4);
      expect(new Set(requests.slice(1, 6).map((q) => `${windowOf(q)} ${q.query.cursor?.[0]}`)).size).toBe(1);
      expect(warnings(r).filter((w) => w.startsWith('Retrying GET /models/usage'))).toHaveLength(4);
    });
  });
});

describe.concurrent('given fal rate-limits a page and announces when to come back', () => {
  const httpDateIn = (ms: number): string => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toUTCString();
  it.for<[string, () => Record<string, string>, number]>([
    ['Retry-After in seconds', () => ({ 'retry-after': '2' }), 2_000],
    ['Retry-After as an HTTP date', () => ({ 'retry-after': httpDateIn(3_000) }), 0],
    ['x-ratelimit-reset in seconds', () => ({ 'x-ratelimit-reset': '2' }), 2_000],
    ['both headers, x-ratelimit-reset the longer', () => ({ 'retry-after': '1', 'x-ratelimit-reset': '2' }), 2_000],
  ])(
    'when it answers 429 with %s then no request at all reaches fal before that time, and the records equal the truth',
    async ([_label, headers, seconds], { expect }) => {
      await withScenario({}, async (s) => {
        const h = headers();
        s.emu.faults.add({ path: STREAM_PATH, after: 1, times: 1, kind: 'status', status: 429, headers: h });
        const r = await s.read();

        expect(r.code, r.stderr).toBe(0);
        expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
        const limited = s.emu.requests.findIndex((q) => q.status === 429);
        expect(limited).toBeGreaterThanOrEqual(0);
        const at = s.emu.requests[limited]!.receivedAt;
        // The announced instant: a delay counted from the 429, or the HTTP date itself.
        const notBefore = seconds > 0 ? at + seconds : Date.parse(h['retry-after'] ?? '');
        const next = s.emu.requests[limited + 1];
        expect(next?.receivedAt).toBeGreaterThanOrEqual(notBefore);
        expect(windowOf(next!)).toBe(windowOf(s.emu.requests[limited]!));
        expect(warnings(r).join('\n')).toMatch(/wait announced by fal/);
      });
    },
  );

  it('when the announced wait is longer than max_retry_seconds then the stream fails at once with transient_error and nothing more is sent', async ({
    expect,
  }) => {
    await withScenario({ config: { max_retry_seconds: 20 } }, async (s) => {
      s.emu.faults.add({
        path: STREAM_PATH,
        after: PAGES_OF_WINDOW_1,
        times: 1,
        kind: 'status',
        status: 429,
        headers: { 'retry-after': '120' },
      });
      const r = await s.read();

      expect(r.code).toBe(1);
      // It did not sit out 120 s, nor the 3 s budget: waiting cannot help within the budget.
      // Not the 120 s fal asked for, and not the 20 s budget either: waiting could not help, so it did not wait.
      const limitedAt = s.emu.requests.find((q) => q.status === 429)!.receivedAt;
      expect(r.exitedAt - limitedAt).toBeLessThan(EXIT_SLACK_MS);
      expect(warnings(r)).toEqual([]);
      const [error, ...more] = errorTraces(r);
      expect(more).toEqual([]);
      expect(error?.failure_type).toBe('transient_error');
      expect(error?.message).toContain('fal asked to wait 120 s, beyond the retry budget');
      expect(error?.message).toContain('raise max_retry_seconds');
      expect(s.emu.requests.at(-1)?.status).toBe(429);
      expect(lastCursor(r)).toBe('2026-11-18T00:00:00Z');
    });
  });
});

describe.concurrent('given a request that hangs', () => {
  it('when fal answers one page only after 4 s and the request timeout is 1 s then the attempt is abandoned, retried, and the records equal the truth', async ({
    expect,
  }) => {
    await withScenario({}, async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, after: 1, times: 1, kind: 'latency', ms: 4_000 });
      const r = await s.read({ env: { SOURCE_FAL_REQUEST_TIMEOUT_SECONDS: '1' } });

      expect(r.code, r.stderr).toBe(0);
      expect(nanoByDay(usageRecords(r))).toEqual(s.truth());
      const [, slow, retry] = streamRequests(s.emu);
      // Abandoned: the emulator never got to answer it (it would have, with a 200, after 4 s).
      expect(slow?.status).toBe(0);
      expect(retry!.receivedAt - slow!.receivedAt).toBeGreaterThanOrEqual(1_000);
      expect(warnings(r).join('\n')).toMatch(/UND_ERR_HEADERS_TIMEOUT/);
    });
  });

  it('when fal never answers after the first window then the run gives up within max_retry_seconds plus one timeout, transient_error, exit 1', async ({
    expect,
  }) => {
    await withScenario({ config: { max_retry_seconds: 2 } }, async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, after: PAGES_OF_WINDOW_1, times: Infinity, kind: 'latency', ms: 60_000 });
      const r = await s.read({ env: { SOURCE_FAL_REQUEST_TIMEOUT_SECONDS: '1' } });

      expect(r.code).toBe(1);
      // Bounded: attempts stop within the 2 s budget; the last one is abandoned after the 1 s timeout; then exit.
      const attempts = streamRequests(s.emu).slice(PAGES_OF_WINDOW_1);
      expect(attempts.length).toBeGreaterThanOrEqual(1);
      expect(attempts.every((q) => q.status === 0)).toBe(true);
      expect(attempts.at(-1)!.receivedAt - attempts[0]!.receivedAt).toBeLessThanOrEqual(2_000 + 1_000);
      expect(r.exitedAt - attempts.at(-1)!.receivedAt).toBeLessThan(1_000 + EXIT_SLACK_MS);
      expect(errorTraces(r).map((e) => e.failure_type)).toEqual(['transient_error']);
      expect(errorTraces(r)[0]?.message).toMatch(/UND_ERR_HEADERS_TIMEOUT/);
      expect(lastCursor(r)).toBe('2026-11-18T00:00:00Z');
    });
  });
});

describe.concurrent('given a long outage from the second window on', () => {
  it.for<[string, FaultRule, string]>([
    [
      '503 gateway pages (request id only in the header)',
      { kind: 'status', status: 503, headers: { 'x-fal-request-id': 'req-gateway-503' } },
      'req-gateway-503',
    ],
    [
      "500 with fal's error envelope",
      {
        kind: 'status',
        status: 500,
        body: JSON.stringify({
          error: { type: 'server_error', message: 'database unavailable', request_id: 'req-envelope-500' },
        }),
      },
      'req-envelope-500',
    ],
  ])(
    'when it is met with %s then the retries stop within max_retry_seconds, the stream is INCOMPLETE with a TRACE naming stream, window and request id, the state stays at window 1, exit 1; and a rerun from that state after the outage equals the truth',
    { timeout: LONG_TEST_MS },
    async ([_label, fault, requestId], { expect }) => {
      await withScenario({ config: { max_retry_seconds: 3 } }, async (s) => {
        s.emu.faults.add({ ...fault, path: STREAM_PATH, after: PAGES_OF_WINDOW_1, times: Infinity } as FaultRule);
        const failed = await s.read();

        expect(failed.code).toBe(1);
        // Bounded: every attempt at the failing page falls within the 3 s budget, then the process exits.
        const attempts = streamRequests(s.emu).slice(PAGES_OF_WINDOW_1);
        expect(attempts.length).toBeGreaterThanOrEqual(2);
        expect(attempts.at(-1)!.receivedAt - attempts[0]!.receivedAt).toBeLessThanOrEqual(3_000 + 1_000);
        expect(failed.exitedAt - attempts.at(-1)!.receivedAt).toBeLessThan(EXIT_SLACK_MS);
        expect(statuses(failed, STREAM)).toEqual(['STARTED', 'RUNNING', 'INCOMPLETE']);
        const errors = errorTraces(failed);
        expect(errors).toHaveLength(1);
        const [error] = errors;
        expect(error?.failure_type).toBe('transient_error');
        expect(error?.stream_descriptor).toEqual({ name: STREAM });
        expect(error?.message).toContain(`stream ${STREAM}`);
        expect(windowInMessage(error?.message ?? '')).toBe(WINDOW_2);
        expect(error?.message).toContain(`fal request id ${requestId}`);
        expect(error?.message).toContain('run the sync again later, or raise max_retry_seconds');
        expect(error?.message).not.toMatch(STACK_FRAME);
        // The checkpoint is the last completed window, never the failed one.
        expect(lastCursor(failed)).toBe('2026-11-18T00:00:00Z');

        s.emu.faults.clear();
        const resumed = await s.read({ state: resumeState(failed) });
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(nanoByDay([...usageRecords(failed), ...usageRecords(resumed)])).toEqual(s.truth());
        expect(
          Math.min(
            ...streamRequests(s.emu)
              .slice(-3)
              .map((q) => Date.parse(q.query.start?.[0] ?? '')),
          ),
        ).toBe(Date.parse('2026-11-15T00:00:00Z'));
      });
    },
  );

  it('when every usage request fails and max_retry_seconds is 0 then it fails on the first failure, without a retry', async ({
    expect,
  }) => {
    await withScenario({ config: { max_retry_seconds: 0 } }, async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, times: Infinity, kind: 'status', status: 503 });
      const r = await s.read();

      expect(r.code).toBe(1);
      expect(streamRequests(s.emu)).toHaveLength(1);
      expect(errorTraces(r).map((e) => e.failure_type)).toEqual(['transient_error']);
      expect(usageRecords(r)).toEqual([]);
    });
  });
});

describe.concurrent('given an error that retrying cannot fix', () => {
  it.for<[string, number, string, RegExp]>([
    ['a bad request', 400, 'system_error', /fal answered GET \/models\/usage with HTTP 400/],
    ['a revoked key', 401, 'config_error', /fal rejected the API key \(401\)/],
    ['a key without the scope', 403, 'config_error', /ADMIN-scope key/],
  ])(
    'when a page answers %s (HTTP %i) then the stream fails at once with %s, without a retry',
    async ([_label, status, failureType, message], { expect }) => {
      await withScenario({}, async (s) => {
        s.emu.faults.add({ path: STREAM_PATH, after: PAGES_OF_WINDOW_1, times: Infinity, kind: 'status', status });
        const r = await s.read();

        expect(r.code).toBe(1);
        expect(streamRequests(s.emu)).toHaveLength(PAGES_OF_WINDOW_1 + 1);
        const errors = errorTraces(r);
        expect(errors.map((e) => e.failure_type)).toEqual([failureType]);
        expect(errors[0]?.message).toMatch(message);
        expect(traces(r, 'STREAM_STATUS').length).toBeGreaterThan(0);
        expect(lastCursor(r)).toBe('2026-11-18T00:00:00Z');
      });
    },
  );
});
