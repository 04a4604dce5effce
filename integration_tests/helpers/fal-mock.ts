/**
 * The fal API double at the HTTP boundary for the stream unit tests (source-fal/streams/*.test.ts): an undici
 * MockAgent per test with the network disabled, under a real FalClient, so a stream's requests, paging, parsing and
 * error mapping run as in production against canned answers, and no test can reach the real api.fal.ai.
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach } from 'vitest';

import { parseConfig, type RawConfig } from '../../source-fal/config.js';
import { FalClient } from '../../source-fal/http/client.js';
import type { Logger } from '../../source-fal/log.js';
import type { StreamContext, StreamRecord } from '../../source-fal/streams/stream.js';
import type { FalPage, FalRequest } from './fal-builders.js';

/** The origin of the default base_url; request paths recorded by the double resolve against it. */
export const FAL_ORIGIN = 'https://api.fal.ai';

/** A well-formed but fake key: parseConfig registers it for redaction like a real one. */
const API_KEY = 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f';

/** One canned response. A string body is sent as is (CSV, HTML, pre-encoded JSON); anything else as JSON. */
export interface FalAnswer {
  /** Default 200. */
  status?: number;
  body: unknown;
  /** Default application/json. */
  contentType?: string;
  /** Extra response headers, e.g. x-fal-request-id. */
  headers?: Record<string, string>;
}

export interface FalMock {
  /** The path and query of every request answered in this test, in order. */
  readonly paths: readonly string[];
  /** Every line the streams logged through a context of this test, as `LEVEL message`. */
  readonly logs: readonly string[];
  /** A stream context on this test's agent: the test key and the file's start date, overridden by `raw`, parsed at `now`. */
  context(raw?: Partial<RawConfig>, now?: number): StreamContext;
  /**
   * Answers the next GET of `request` (or every one, with `persist`). A request builder (falRequest) matches exactly:
   * its path and query parameters, none missing, none extra. A string path ending in `?` matches that path with any
   * query; any other string must be exactly the path with no query. `answer` is a response builder (usagePage(),
   * eventsPage(), …), a canned answer, or a function of the query giving one.
   */
  reply(request: string | FalRequest, answer: Answer, options?: { persist?: boolean }): void;
}

type Answer = FalAnswer | FalPage | ((query: URLSearchParams) => FalAnswer);

const isPage = (answer: Answer): answer is FalPage => 'build' in answer && typeof answer.build === 'function';

/** A request's path with its query sorted, so the same request compares equal however undici spelled it. */
function canonical(path: string): string {
  const url = new URL(path, FAL_ORIGIN);
  url.searchParams.sort();
  return `${url.pathname}${url.search}`;
}

/**
 * Installs the double for the calling test file: a fresh MockAgent before each test and, after it, two checks: every
 * request the stream sent was answered (else the test fails naming the request and, for each expected request of the
 * same path, the parameters missing or extra, which undici's "Mock dispatch not matched" does not say), and every
 * interception set up was used (an unused one means the stream made fewer calls than the test expects; a persistent
 * one counts as used after its first call).
 * `paths` and `logs` are the same arrays for the whole file, emptied before each test, so they may be destructured.
 */
export function useFalMock(options: { now: number; startDate?: string }): FalMock {
  let agent: MockAgent | undefined;
  const paths: string[] = [];
  const logs: string[] = [];
  /** Every request the agent tried to match (canonical), for the unanswered check. */
  const seen = new Set<string>();
  /** The request builders replied to, to say how an unanswered request differs from them. */
  const expected: FalRequest[] = [];

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    paths.length = 0;
    logs.length = 0;
    seen.clear();
    expected.length = 0;
  });

  afterEach(async () => {
    const current = currentAgent();
    agent = undefined;
    try {
      const answered = new Set(paths.map(canonical));
      const unanswered = [...seen].filter((path) => !answered.has(path));
      if (unanswered.length > 0) throw new Error(`fal mock: no reply matched\n${unanswered.map(explain).join('\n')}`);
      current.assertNoPendingInterceptors();
    } finally {
      await current.close();
    }
  });

  function explain(actual: string): string {
    const near = expected.filter((request) => request.path === new URL(actual, FAL_ORIGIN).pathname);
    const lines = near.map(
      (request) => `  expected GET ${decodeURIComponent(request.target)}: ${request.difference(actual) ?? 'matches'}`,
    );
    return [`GET ${decodeURIComponent(actual)}`, ...(lines.length > 0 ? lines : ['  (no reply for this path)'])].join(
      '\n',
    );
  }

  function currentAgent(): MockAgent {
    if (agent === undefined)
      throw new Error('useFalMock: the fal double is only there inside a test (use it from it(), not at load time)');
    return agent;
  }

  function context(raw: Partial<RawConfig> = {}, now = options.now): StreamContext {
    const defaults =
      options.startDate === undefined ? { api_key: API_KEY } : { api_key: API_KEY, start_date: options.startDate };
    const config = parseConfig({ ...defaults, ...raw }, now);
    // No real sleeps between retries, and a fixed jitter, so retry paths are fast and repeatable.
    const client = new FalClient({
      baseUrl: config.baseUrl,
      apiKey: config.apiKey,
      dispatcher: currentAgent(),
      sleep: async () => undefined,
      random: () => 1,
    });
    const log: Logger = { log: (level, message) => logs.push(`${level} ${message}`) };
    return { config, client, log, signal: new AbortController().signal };
  }

  function reply(request: string | FalRequest, answer: Answer, replyOptions: { persist?: boolean } = {}): void {
    const accepts =
      typeof request !== 'string'
        ? (p: string) => request.matches(p)
        : request.endsWith('?')
          ? (p: string) => p.startsWith(request)
          : (p: string) => p === request;
    if (typeof request !== 'string') expected.push(request);
    const matches = (p: string): boolean => {
      seen.add(canonical(p));
      return accepts(p);
    };
    const interceptor = currentAgent()
      .get(FAL_ORIGIN)
      .intercept({ path: matches, method: 'GET' })
      .reply((opts) => {
        paths.push(opts.path);
        const given =
          typeof answer === 'function'
            ? answer(new URL(opts.path, FAL_ORIGIN).searchParams)
            : isPage(answer)
              ? { body: answer.build() }
              : answer;
        const { status = 200, body, contentType = 'application/json', headers = {} } = given;
        const data = typeof body === 'string' ? body : JSON.stringify(body);
        return { statusCode: status, data, responseOptions: { headers: { 'content-type': contentType, ...headers } } };
      });
    if (replyOptions.persist === true) interceptor.persist();
  }

  return { paths, logs, context, reply };
}

/** Every record of a stream's batches, in order, in one array. */
export async function collect(batches: AsyncIterable<readonly StreamRecord[]>): Promise<StreamRecord[]> {
  const records: StreamRecord[] = [];
  for await (const batch of batches) records.push(...batch);
  return records;
}
