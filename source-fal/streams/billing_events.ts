/**
 * `billing_events`: one record per billed Model-API request, with its cost breakdown.
 * Endpoint: GET /v1/models/billing-events, https://fal.ai/docs/platform-apis/v1/models/billing-events (fal-api.md §4).
 * Grain: request; `request_id` is the natural primary key, `timestamp` the cursor.
 *
 * This is the high-volume stream (a busy account bills hundreds of thousands of requests a day), so the per-record
 * work is kept small: the page envelope is parsed strictly, the items only get typeof checks on the fields the
 * record relies on, and each item is completed in place rather than copied.
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import type { Query } from '../http/client.js';
import { cursorPages, CursorEnvelope } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import { DAY_MS, formatInstant, formatWindow, normalizeTimestamp, type Window } from '../time.js';
import { lookbackWindows, type IncrementalStream, type StreamRecord } from './stream.js';

const PATH = '/models/billing-events';
const ENDPOINT = `GET ${PATH}`;

/** fal: "limited to 10000 records per page" (fal-api.md §2.3, §4 [SPEC]). */
export const BILLING_EVENTS_PAGE_LIMIT = 10_000;
/** fal: the date range of one request is capped at 90 days (fal-api.md §4 [SPEC]). Our windows stay far inside it. */
export const BILLING_EVENTS_MAX_RANGE_MS = 90 * DAY_MS;
/** One UTC day per window and checkpoint (DESIGN.md §3: event streams checkpoint at most a day's work). */
export const BILLING_EVENTS_WINDOW_MS = DAY_MS;

// The items are checked one by one in completeEvent; `z.array(z.unknown())` would copy a 10,000-item array per page.
const Page = CursorEnvelope.extend({ billing_events: z.custom<unknown[]>(Array.isArray, { message: 'expected an array of billing events' }) });

type Item = Record<string, unknown>;

export const billingEvents: IncrementalStream = {
  kind: 'incremental',
  name: 'billing_events',
  primaryKey: ['request_id'],
  cursorField: 'timestamp',
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/billing-events',
  windows(ctx, saved) {
    // Day-aligned like the bucketed streams, so the lookback re-reads whole UTC days.
    return lookbackWindows(ctx, saved, BILLING_EVENTS_WINDOW_MS, DAY_MS);
  },
  // `end` is exclusive and fixed for every page of the window, so every event before it has been read (as of this
  // run; late ones are the lookback's job). Events carry whole seconds, hence the floor.
  cursorAfter(_ctx, window) {
    return Math.floor(window.end / 1000) * 1000;
  },
  async *readWindow(ctx, window) {
    const query: Query = {
      start: formatInstant(window.start),
      end: formatInstant(window.end),
      expand: ['auth_method_structured'],
    };
    const pages = cursorPages({ client: ctx.client, path: PATH, query, limit: BILLING_EVENTS_PAGE_LIMIT, schema: Page });
    for await (const page of pages) {
      const items = page.billing_events;
      for (let i = 0; i < items.length; i++) completeEvent(items[i], window);
      yield items as StreamRecord[];
    }
  },
};

/**
 * Checks one event and turns it into the record in place: `timestamp` as RFC 3339 UTC, the auth method flattened
 * into `auth_method` / `api_key_id` / `login_username` (as in `usage`), `cost_estimate_nano_usd` an integer.
 * Unknown fields pass through untouched.
 */
function completeEvent(value: unknown, window: Window): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw shapeError('an item that is not an object', window);
  const event = value as Item;
  const requestId = event.request_id;
  if (typeof requestId !== 'string' || requestId.length === 0) throw shapeError('an event without a request_id', window);
  const timestamp = event.timestamp;
  if (typeof timestamp !== 'string') throw shapeError(`event ${requestId} without a timestamp`, window);
  try {
    event.timestamp = normalizeTimestamp(timestamp);
  } catch {
    throw shapeError(`event ${requestId} with a timestamp that is not one: ${JSON.stringify(timestamp)}`, window);
  }
  const costTotal = event.cost_total;
  if (typeof costTotal !== 'number') throw shapeError(`event ${requestId} without a numeric cost_total`, window);
  const nano = event.cost_estimate_nano_usd;
  // fal's integer is the exact charge; only when it is missing or not an integer is it derived from the decimal.
  if (typeof nano !== 'number' || !Number.isSafeInteger(nano)) event.cost_estimate_nano_usd = usdToNano(costTotal);

  const structured = event.auth_method_structured;
  let apiKeyId: unknown = null;
  let login: unknown = null;
  let detail: unknown = typeof event.auth_method === 'string' ? event.auth_method : null;
  if (structured !== null && typeof structured === 'object') {
    const s = structured as Item;
    apiKeyId = typeof s.api_key_id === 'string' ? s.api_key_id : null;
    login = typeof s.login_username === 'string' ? s.login_username : null;
    if (typeof s.detail === 'string') detail = s.detail;
  }
  event.auth_method = detail;
  event.api_key_id = apiKeyId;
  event.login_username = login;
  // Flattened above; `undefined` is left out by JSON.stringify and, unlike `delete`, keeps the object's shape.
  event.auth_method_structured = undefined;
}

function shapeError(what: string, window: Window): ResponseShapeError {
  return new ResponseShapeError(`fal's response to ${ENDPOINT} holds ${what}. fal may have changed its API; upgrade source-fal or report this.`, {
    endpoint: ENDPOINT,
    window: formatWindow(window),
  });
}
