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
   * Answers the next GET of `path` (or every one, with `persist`). A path ending in `?` matches that path with any
   * query; otherwise the request must have exactly that path and no query. `answer` may depend on the query.
   */
  reply(
    path: string,
    answer: FalAnswer | ((query: URLSearchParams) => FalAnswer),
    options?: { persist?: boolean },
  ): void;
}

/**
 * Installs the double for the calling test file: a fresh MockAgent before each test and, after it, a check that
 * every interception set up was used (an unused one means the stream made fewer calls than the test expects; a
 * persistent one counts as used after its first call).
 * `paths` and `logs` are the same arrays for the whole file, emptied before each test, so they may be destructured.
 */
export function useFalMock(options: { now: number; startDate?: string }): FalMock {
  let agent: MockAgent | undefined;
  const paths: string[] = [];
  const logs: string[] = [];

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    paths.length = 0;
    logs.length = 0;
  });

  afterEach(async () => {
    const current = currentAgent();
    agent = undefined;
    current.assertNoPendingInterceptors();
    await current.close();
  });

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

  function reply(
    path: string,
    answer: FalAnswer | ((query: URLSearchParams) => FalAnswer),
    replyOptions: { persist?: boolean } = {},
  ): void {
    const matches = path.endsWith('?') ? (p: string) => p.startsWith(path) : (p: string) => p === path;
    const interceptor = currentAgent()
      .get(FAL_ORIGIN)
      .intercept({ path: matches, method: 'GET' })
      .reply((opts) => {
        paths.push(opts.path);
        const given = typeof answer === 'function' ? answer(new URL(opts.path, FAL_ORIGIN).searchParams) : answer;
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
