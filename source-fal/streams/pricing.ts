/**
 * `pricing`: the current unit price of every fal endpoint the account used between start_date and end_date, plus
 * the ids listed in the `endpoint_ids` config field. Endpoint: GET /v1/models/pricing,
 * https://fal.ai/docs/platform-apis/v1/models/pricing. fal prices only the ids it is asked about
 * (`endpoint_id` is required, 1–50 a call), so the ids come from the account's usage summary, read with the same
 * explicit UTC parameters as the usage stream. The price may reflect the account's own pricing.
 */
import { z } from 'zod';

import { isFalNotFound } from '../http/client.js';
import { CursorEnvelope, cursorPages, nextCursor } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import { DAY_MS, formatInstant, sliceWindows } from '../time.js';
import { USAGE_PAGE_LIMIT } from './bucketed.js';
import type { SnapshotStream, StreamContext, StreamRecord } from './stream.js';

const PATH = '/models/pricing';

/** `endpoint_id` takes 1–50 values (fal OpenAPI getPricing, https://api.fal.ai/v1/openapi.json). */
const PRICING_BATCH_SIZE = 50;

/** Usage summaries are asked for in steps of at most 90 days, the longest range any fal usage API documents. */
const ID_DISCOVERY_STEP_MS = 90 * DAY_MS;

const PricesPage = CursorEnvelope.extend({
  prices: z.array(
    z
      .object({ endpoint_id: z.string().min(1), unit_price: z.number(), unit: z.string(), currency: z.string() })
      .loose(),
  ),
});

export const pricing: SnapshotStream = {
  kind: 'snapshot',
  name: 'pricing',
  primaryKey: ['endpoint_id'],
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/pricing',
  async *read(ctx) {
    const ids = [...new Set([...(await endpointIdsSeenInUsage(ctx)), ...ctx.config.endpointIds])].sort();
    for (let i = 0; i < ids.length; i += PRICING_BATCH_SIZE) {
      const prices = await pricesOf(ctx, ids.slice(i, i + PRICING_BATCH_SIZE));
      yield prices.map((price): StreamRecord => ({ ...price, unit_price_nano_usd: usdToNano(price.unit_price) }));
    }
  },
};

/** Every endpoint id in the account's usage over [start_date, end), from `expand=summary` (one line per grain). */
export function endpointIdsSeenInUsage(ctx: StreamContext): Promise<Set<string>> {
  return valuesInSummary(ctx, '/models/usage', 'endpoint_id');
}

/**
 * Every non-empty value of one field of a usage-type endpoint's summary lines over [start_date, end), read in
 * 90-day windows (fal's cap on a usage range).
 */
export async function valuesInSummary(ctx: StreamContext, path: string, field: string): Promise<Set<string>> {
  const Page = CursorEnvelope.extend({ summary: z.array(z.record(z.string(), z.unknown())) });
  const values = new Set<string>();
  for (const window of sliceWindows(ctx.config.startMs, ctx.config.endMs, ID_DISCOVERY_STEP_MS, DAY_MS)) {
    const query = {
      start: formatInstant(window.start),
      end: formatInstant(window.end),
      timeframe: 'day',
      bound_to_timeframe: 'false',
      timezone: 'UTC',
      expand: ['summary'],
    };
    for await (const page of cursorPages({ client: ctx.client, path, query, limit: USAGE_PAGE_LIMIT, schema: Page })) {
      for (const line of page.summary) {
        const value = line[field];
        if (typeof value === 'string' && value !== '') values.add(value);
      }
    }
  }
  return values;
}

type Price = z.infer<typeof PricesPage>['prices'][number];

/**
 * Prices of up to 50 ids. fal answers 404 for the whole call when it does not know an id (the emulator documents
 * this; fal's spec lists a 404 and says no more), so a 404 splits the batch in halves until the unknown ids stand
 * alone: they are logged and left out, every known id is still priced, at a cost of O(unknown × log 50) calls.
 */
export async function pricesOf(ctx: StreamContext, ids: readonly string[]): Promise<Price[]> {
  const first = await ctx.client.getJson(PATH, { endpoint_id: ids }, PricesPage, [404]);
  if (first.body === undefined) {
    // Only fal's own not_found says an id is unknown; a bare 404 must not drop prices (isFalNotFound throws).
    isFalNotFound(first, `GET ${PATH}`);
    if (ids.length === 1) {
      ctx.log.log(
        'WARN',
        `pricing: fal does not know endpoint ${ids[0]} (404 not_found); it has no pricing row. Check endpoint_ids in the config if you listed it there.`,
      );
      return [];
    }
    const half = Math.ceil(ids.length / 2);
    return [...(await pricesOf(ctx, ids.slice(0, half))), ...(await pricesOf(ctx, ids.slice(half)))];
  }
  const prices = [...first.body.prices];
  // The response carries the cursor envelope; follow it with the shared paginator should fal split one batch.
  const next = nextCursor(first.body, PATH);
  if (next !== null) {
    for await (const page of cursorPages({
      client: ctx.client,
      path: PATH,
      query: { endpoint_id: ids },
      limit: undefined,
      schema: PricesPage,
      startCursor: next,
    }))
      prices.push(...page.prices);
  }
  return prices;
}
