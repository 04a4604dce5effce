/**
 * fal's cursor pagination: send `limit` and the previous page's `next_cursor` as `cursor`,
 * keep every other parameter identical, stop when `has_more` is false or `next_cursor` is null.
 * Pages are fetched one after another: the next request goes out once the caller has handled the current page.
 * Fetching one page ahead was measured (npm run bench, 356k billing events on loopback) at +18% CPU and +50 MB
 * peak RSS for no wall-clock gain, since parsing, writing and the next response body compete for the same thread.
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import type { FalClient, Query } from './client.js';

/** The envelope fields pagination relies on; parsed strictly. */
export const CursorEnvelope = z.object({
  next_cursor: z.string().min(1).nullable(),
  has_more: z.boolean(),
});

export interface CursorPageSource<P extends z.infer<typeof CursorEnvelope>> {
  client: FalClient;
  path: string;
  query: Query;
  /** Page size; a named constant per endpoint with the API limit it comes from (undefined: fal's default). */
  limit: number | undefined;
  schema: z.ZodType<P>;
  /** Continue from this cursor (the first page was fetched by the caller, e.g. to tell fal's 404 apart). */
  startCursor?: string;
}

export async function* cursorPages<P extends z.infer<typeof CursorEnvelope>>(
  source: CursorPageSource<P>,
): AsyncGenerator<P> {
  const { client, path, query, limit, schema } = source;
  const seen = new Set<string>(source.startCursor === undefined ? [] : [source.startCursor]);
  const fetchPage = (cursor: string | undefined): Promise<P> =>
    client.getJson(path, { ...query, limit, cursor }, schema).then((response) => response.body);

  let pending: Promise<P> | undefined = fetchPage(source.startCursor);
  while (pending) {
    const page: P = await pending;
    pending = undefined;
    const next = nextCursor(page, path);
    if (next !== null) {
      if (seen.has(next)) {
        throw new ResponseShapeError(
          `fal returned the cursor ${JSON.stringify(next)} twice for GET ${path}; stopping instead of looping forever.`,
          {
            endpoint: `GET ${path}`,
          },
        );
      }
      seen.add(next);
    }
    yield page;
    if (next !== null) pending = fetchPage(next);
  }
}

/**
 * The cursor of the page after `page`, or null at the end. fal derives has_more from next_cursor. "More pages"
 * without a cursor to fetch them cannot be followed: stopping would silently drop the rest, so it is a broken envelope.
 */
export function nextCursor(page: z.infer<typeof CursorEnvelope>, path: string): string | null {
  if (page.has_more && page.next_cursor === null) {
    throw new ResponseShapeError(
      `fal said has_more: true but sent no next_cursor for GET ${path}; the rest of the data cannot be fetched. Upgrade source-fal or report this.`,
      {
        endpoint: `GET ${path}`,
      },
    );
  }
  return page.has_more ? page.next_cursor : null;
}
