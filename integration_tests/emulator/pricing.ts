/**
 * GET /v1/models/pricing for the emulator (fal-api.md §10): unit prices of the requested endpoint ids.
 * API scope (an ADMIN key works too). `endpoint_id` is required, 1–50 ids (comma list or repeated), else 400.
 * Prices are the endpoint catalog's list prices as of the emulator clock (fal-ai/veo3 changes at
 * truth.priceChangeAt). An id the catalog does not know makes the whole call answer **404 `not_found`** naming the
 * unknown ids (the spec declares a 404 for this endpoint and nothing says it is per id); a caller that batches ids
 * must split the batch to keep the known ones. Duplicate ids are answered once, in request order.
 */
import { ENDPOINTS, NANO_PER_USD, endpointIndex, type World } from './data.js';
import { ApiError, DOCS_BASE } from './params.js';
import type { Route, RouteContext } from './routes.js';

const PRICING_DOCS = `${DOCS_BASE}/models/pricing`;

export interface PriceJson {
  endpoint_id: string;
  unit_price: number;
  unit: string;
  currency: 'USD';
}

/** The price the emulator lists for a known endpoint id at an instant; undefined for an unknown id. */
export function priceOf(world: World, endpointId: string, atMs: number): PriceJson | undefined {
  const i = endpointIndex(endpointId);
  const nano = world.unitPriceNanoAt(endpointId, atMs);
  if (i === undefined || nano === undefined) return undefined;
  return { endpoint_id: endpointId, unit_price: nano / NANO_PER_USD, unit: ENDPOINTS[i]!.unit, currency: 'USD' };
}

function pricing(ctx: RouteContext): string {
  const ids = ctx.params.multi('endpoint_id');
  if (ids === undefined) throw new ApiError(400, 'validation_error', 'endpoint_id is required (1 to 50 endpoint ids)', PRICING_DOCS);
  const unique = [...new Set(ids)];
  const unknown = unique.filter((id) => endpointIndex(id) === undefined);
  if (unknown.length > 0) throw new ApiError(404, 'not_found', `Endpoint not found: ${unknown.join(', ')}`, PRICING_DOCS);
  const prices = unique.map((id) => priceOf(ctx.world, id, ctx.nowMs) as PriceJson);
  return JSON.stringify({ prices, next_cursor: null, has_more: false });
}

export const PRICING_ROUTES: readonly (readonly [string, Route])[] = [['/v1/models/pricing', { scope: 'API', docsUrl: PRICING_DOCS, handler: pricing }]];
