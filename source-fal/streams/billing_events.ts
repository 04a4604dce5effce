/**
 * `billing_events`: one record per billed Model-API request, with its cost breakdown.
 * Endpoint: GET /v1/models/billing-events, https://fal.ai/docs/platform-apis/v1/models/billing-events.
 * Grain: request; `request_id` is the natural primary key, `timestamp` the cursor.
 * The event → record work it shares with org_billing_events is in billing-event.ts.
 */
import { DAY_MS } from '../time.js';
import { eventStream } from './billing-event.js';

/** fal: "limited to 10000 records per page". */
export const BILLING_EVENTS_PAGE_LIMIT = 10_000;
/** fal: the date range of one request is capped at 90 days. Our windows stay far inside it. */
export const BILLING_EVENTS_MAX_RANGE_MS = 90 * DAY_MS;
/** One UTC day per window and checkpoint when reading one request at a time: event streams checkpoint at most a day's work. */
const BILLING_EVENTS_WINDOW_MS = DAY_MS;
/**
 * A quarter of a day when windows are read concurrently. Pages of one window follow each other (each needs the
 * previous page's cursor), so only separate windows overlap; and a window read ahead holds its pages until it is
 * handed on. Smaller windows keep both the overlap high and the pages held few.
 */
const BILLING_EVENTS_CONCURRENT_WINDOW_MS = DAY_MS / 4;

export const billingEvents = eventStream({
  name: 'billing_events',
  path: '/models/billing-events',
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/billing-events',
  pageLimit: BILLING_EVENTS_PAGE_LIMIT,
  organization: false,
  windowMs: (ctx) =>
    ctx.config.maxConcurrentRequests > 1 ? BILLING_EVENTS_CONCURRENT_WINDOW_MS : BILLING_EVENTS_WINDOW_MS,
});
