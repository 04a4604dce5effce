/**
 * fal's cursor pagination (fal-api.md §2.3): send `limit` and the previous page's `next_cursor` as `cursor`,
 * keep every other parameter identical, stop when `has_more` is false or `next_cursor` is null.
 * The next page is requested while the caller is still handling the current one (one page ahead, never more),
 * so writing output overlaps the network wait without unbounded buffering.
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
  /** Page size; a named constant per endpoint with the API limit it comes from. */
  limit: number;
  schema: z.ZodType<P>;
}

export async function* cursorPages<P extends z.infer<typeof CursorEnvelope>>(source: CursorPageSource<P>): AsyncGenerator<P> {
  const { client, path, query, limit, schema } = source;
  const seen = new Set<string>();
  const fetchPage = (cursor: string | undefined): Promise<P> =>
    client.getJson(path, { ...query, limit, cursor }, schema).then((response) => response.body);

  let pending: Promise<P> | undefined = fetchPage(undefined);
  while (pending) {
    const page: P = await pending;
    pending = undefined;
    const next = page.has_more ? page.next_cursor : null;
    if (next !== null) {
      if (seen.has(next)) {
        throw new ResponseShapeError(`fal returned the cursor ${JSON.stringify(next)} twice for GET ${path}; stopping instead of looping forever.`, {
          endpoint: `GET ${path}`,
        });
      }
      seen.add(next);
      pending = fetchPage(next);
      // If the consumer stops early (error, interruption), the prefetched page must not become an unhandled rejection.
      pending.catch(() => undefined);
    }
    yield page;
  }
}
