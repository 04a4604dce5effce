/**
 * `billing_events`: one record per billed Model-API request, with its cost breakdown.
 * Endpoint: GET /v1/models/billing-events, https://fal.ai/docs/platform-apis/v1/models/billing-events.
 * Grain: request; `request_id` is the natural primary key, `timestamp` the cursor.
 * The event → record work it shares with org_billing_events is in billing-event.ts.
 */
import type { Query } from '../http/client.js';
import { cursorPages } from '../http/paginate.js';
import { DAY_MS, formatInstant } from '../time.js';
import { completeEvent, type EventSource, EventsPage } from './billing-event.js';
import { type IncrementalStream, lookbackWindows, type StreamRecord } from './stream.js';

const PATH = '/models/billing-events';

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

const SOURCE: EventSource = { endpoint: `GET ${PATH}`, organization: false };

export const billingEvents: IncrementalStream = {
  kind: 'incremental',
  name: 'billing_events',
  primaryKey: ['request_id'],
  cursorField: 'timestamp',
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/billing-events',
  windows(ctx, saved) {
    // Aligned to the window size (whole UTC days, or quarters of them from midnight): a resumed run starts where the
    // saved cursor is, and the lookback re-reads whole windows.
    const step = ctx.config.maxConcurrentRequests > 1 ? BILLING_EVENTS_CONCURRENT_WINDOW_MS : BILLING_EVENTS_WINDOW_MS;
    return lookbackWindows(ctx, saved, step, step);
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
    const pages = cursorPages({
      client: ctx.client,
      path: PATH,
      query,
      limit: BILLING_EVENTS_PAGE_LIMIT,
      schema: EventsPage,
    });
    for await (const page of pages) {
      const items = page.billing_events;
      const records = new Array<StreamRecord>(items.length);
      for (let i = 0; i < items.length; i++) records[i] = completeEvent(items[i], window, SOURCE);
      yield records;
    }
  },
};
