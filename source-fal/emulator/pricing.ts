/**
 * GET /v1/models/pricing for the emulator: unit prices of the requested endpoint ids.
 * API scope (an ADMIN key works too). `endpoint_id` is required, 1–50 ids (comma list or repeated), else 400.
 * Prices are the endpoint catalog's list prices as of the emulator clock (fal-ai/veo3 changes at
 * truth.priceChangeAt). Besides the billed endpoints of data.ts, the catalog lists PRICED_ONLY_COUNT more ids,
 * `fal-ai/catalog/model-001` …, that no account uses (so a caller can ask for more than 50 known ids). An id the
 * catalog does not know makes the whole call answer **404 `not_found`** naming the
 * unknown ids (the spec declares a 404 for this endpoint and nothing says it is per id); a caller that batches ids
 * must split the batch to keep the known ones. Duplicate ids are answered once, in request order.
 */
import { endpointIndex, ENDPOINTS, NANO_PER_USD, type World } from './data.js';
import { ApiError, DOCS_BASE } from './params.js';
import type { Route, RouteContext } from './routes.js';

const PRICING_DOCS = `${DOCS_BASE}/models/pricing`;

export interface PriceJson {
  endpoint_id: string;
  unit_price: number;
  unit: string;
  currency: 'USD';
}

/** Catalog ids that are priced but never billed: `fal-ai/catalog/model-001` … `-120`. */
const PRICED_ONLY_COUNT = 120;
const PRICED_ONLY = /^fal-ai\/catalog\/model-(\d{3})$/;

export function pricedOnlyId(n: number): string {
  return `fal-ai/catalog/model-${String(n).padStart(3, '0')}`;
}

/** The price the emulator lists for a known endpoint id at an instant; undefined for an unknown id. */
export function priceOf(world: World, endpointId: string, atMs: number): PriceJson | undefined {
  const i = endpointIndex(endpointId);
  const nano = world.unitPriceNanoAt(endpointId, atMs);
  if (i !== undefined && nano !== undefined)
    return { endpoint_id: endpointId, unit_price: nano / NANO_PER_USD, unit: ENDPOINTS[i]!.unit, currency: 'USD' };
  const m = PRICED_ONLY.exec(endpointId);
  const n = m ? Number(m[1]) : 0;
  if (n < 1 || n > PRICED_ONLY_COUNT) return undefined;
  // 1.001 … 1.12 cents per image: distinct, exact in nano-USD.
  return {
    endpoint_id: endpointId,
    unit_price: (10_000_000 + n * 10_000) / NANO_PER_USD,
    unit: 'image',
    currency: 'USD',
  };
}

function pricing(ctx: RouteContext): string {
  const ids = ctx.params.multi('endpoint_id');
  if (ids === undefined)
    throw new ApiError(400, 'validation_error', 'endpoint_id is required (1 to 50 endpoint ids)', PRICING_DOCS);
  const unique = [...new Set(ids)];
  const prices = unique.map((id) => priceOf(ctx.world, id, ctx.nowMs));
  const unknown = unique.filter((_, i) => prices[i] === undefined);
  if (unknown.length > 0)
    throw new ApiError(404, 'not_found', `Endpoint not found: ${unknown.join(', ')}`, PRICING_DOCS);
  return JSON.stringify({ prices, next_cursor: null, has_more: false });
}

export const PRICING_ROUTES: readonly (readonly [string, Route])[] = [
  ['/v1/models/pricing', { scope: 'API', docsUrl: PRICING_DOCS, handler: pricing }],
];
