import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import { FalClient } from './client.js';
import { CursorEnvelope, cursorPages } from './paginate.js';

const ORIGIN = 'https://api.fal.ai';
const JSON_HEADERS = { 'content-type': 'application/json' };
const Page = CursorEnvelope.extend({ items: z.array(z.number()) });
const QUERY = {
  start: '2026-07-20T00:00:00Z',
  end: '2026-07-27T00:00:00Z',
  timeframe: 'day',
  expand: ['time_series', 'auth_method_structured'],
};

let mockAgent: MockAgent;
let client: FalClient;
/** Every request path the mock answered, in order. */
let paths: string[];

/** Answers the next request to /v1/models/usage with `page`, recording its path. */
function nextPage(page: { items: number[]; next_cursor: string | null; has_more: boolean }): void {
  mockAgent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith('/v1/models/usage?'), method: 'GET' })
    .reply((opts) => {
      paths.push(opts.path);
      return { statusCode: 200, data: page, responseOptions: { headers: JSON_HEADERS } };
    });
}

async function readAll(): Promise<number[][]> {
  const pages: number[][] = [];
  for await (const page of cursorPages({ client, path: '/models/usage', query: QUERY, limit: 2, schema: Page }))
    pages.push(page.items);
  return pages;
}

const params = (path: string): Record<string, string> => Object.fromEntries(new URL(path, ORIGIN).searchParams);

beforeEach(() => {
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
  paths = [];
  client = new FalClient({
    baseUrl: `${ORIGIN}/v1`,
    apiKey: 'kid-1:secret-secret',
    dispatcher: mockAgent,
    sleep: async () => undefined,
    random: () => 1,
  });
});

afterEach(async () => {
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

describe('cursorPages', () => {
  it('given three pages linked by cursors when read then every page arrives in order and the cursors are sent back', async () => {
    nextPage({ items: [1, 2], next_cursor: 'Mg==', has_more: true });
    nextPage({ items: [3, 4], next_cursor: 'NA==', has_more: true });
    nextPage({ items: [5], next_cursor: null, has_more: false });

    expect(await readAll()).toEqual([[1, 2], [3, 4], [5]]);
    expect(paths.map((p) => params(p).cursor ?? null)).toEqual([null, 'Mg==', 'NA==']);
  });

  it('given three pages when read then every parameter but the cursor is identical on every page', async () => {
    // Regression: dropping a filter on page 2+ silently mixes another window's rows into the sync.
    nextPage({ items: [1, 2], next_cursor: 'Mg==', has_more: true });
    nextPage({ items: [3, 4], next_cursor: 'NA==', has_more: true });
    nextPage({ items: [5], next_cursor: null, has_more: false });

    await readAll();

    const withoutCursor = paths.map((p) => {
      const { cursor: _cursor, ...rest } = params(p);
      return rest;
    });
    const expected = {
      start: '2026-07-20T00:00:00Z',
      end: '2026-07-27T00:00:00Z',
      timeframe: 'day',
      expand: 'time_series,auth_method_structured',
      limit: '2',
    };
    expect(withoutCursor).toEqual([expected, expected, expected]);
  });

  it('given has_more false with a cursor still set when read then it stops after that page', async () => {
    nextPage({ items: [1], next_cursor: 'Mg==', has_more: false });

    expect(await readAll()).toEqual([[1]]);
    // Counts every request the client sent, including one the mock would not have matched.
    expect(client.stats.requests).toBe(1);
  });

  it('given next_cursor null with has_more true when read then a ResponseShapeError, neither a loop nor a silent stop', async () => {
    // Regressions: looping on a null cursor re-requested page 1 forever; stopping there dropped the rest of the
    // window without a word, and the checkpoint after it skipped that data for good.
    nextPage({ items: [1], next_cursor: 'Mg==', has_more: true });
    nextPage({ items: [2], next_cursor: null, has_more: true });

    const error = await readAll().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(
      /has_more: true but sent no next_cursor for GET \/models\/usage/,
    );
    expect(client.stats.requests).toBe(2);
  });

  it('given a cursor fal already sent when read then a ResponseShapeError instead of an endless loop', async () => {
    nextPage({ items: [1], next_cursor: 'Mg==', has_more: true });
    nextPage({ items: [2], next_cursor: 'Mg==', has_more: true });

    const seen: number[][] = [];
    let error: unknown;
    try {
      for await (const page of cursorPages({ client, path: '/models/usage', query: QUERY, limit: 2, schema: Page }))
        seen.push(page.items);
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toBe(
      'fal returned the cursor "Mg==" twice for GET /models/usage; stopping instead of looping forever.',
    );
    expect((error as ResponseShapeError).context.endpoint).toBe('GET /models/usage');
    expect(seen).toEqual([[1]]);
    expect(client.stats.requests).toBe(2);
  });

  it('given a page without has_more when read then a ResponseShapeError, not a silent stop', async () => {
    mockAgent
      .get(ORIGIN)
      .intercept({ path: (p) => p.startsWith('/v1/models/usage?'), method: 'GET' })
      .reply(200, { items: [1], next_cursor: null }, { headers: JSON_HEADERS });

    await expect(readAll()).rejects.toBeInstanceOf(ResponseShapeError);
  });

  it('given the consumer stops after the first page when read then no further page is requested', async () => {
    // Pages are fetched serially (measured cheaper than one ahead); abandoning a read must not leave a request behind.
    nextPage({ items: [1], next_cursor: 'Mg==', has_more: true });

    const pages: number[][] = [];
    for await (const page of cursorPages({ client, path: '/models/usage', query: QUERY, limit: 2, schema: Page })) {
      pages.push(page.items);
      break;
    }

    expect(pages).toEqual([[1]]);
    expect(client.stats.requests).toBe(1);
  });
});
