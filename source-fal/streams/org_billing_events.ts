/**
 * `org_billing_events`: one row per billed Model-API request of any team of a fal organization, with the team's
 * `username`. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/billing-events, https://fal.ai/docs/platform-apis/v1/organization/billing-events.
 * Windows are whole UTC days (docs/design.md: a busy organization makes
 * many events a day, and a killed run repeats at most one day); the cursor is the end of the last completed day,
 * and every incremental run re-reads `lookback_days` before it, re-emitting late events under the same request_id.
 */
import { cursorPages } from '../http/paginate.js';
import { DAY_MS, formatInstant } from '../time.js';
import { completeEvent, type EventSource, EventsPage } from './billing-event.js';
import { type IncrementalStream, lookbackWindows, type StreamRecord } from './stream.js';

const PATH = '/organization/billing-events';

/** "limited to 100 records per page" (fal OpenAPI getOrganizationBillingEvents). */
const ORG_BILLING_EVENTS_PAGE_LIMIT = 100;

/** The same event as billing_events' plus its team; see billing-event.ts for what differs. */
export const ORG_EVENTS: EventSource = { endpoint: `GET ${PATH}`, organization: true };

export const orgBillingEvents: IncrementalStream = {
  kind: 'incremental',
  name: 'org_billing_events',
  primaryKey: ['request_id'],
  cursorField: 'timestamp',
  requires: 'org_admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/organization/billing-events',
  windows(ctx, saved) {
    return lookbackWindows(ctx, saved, DAY_MS, DAY_MS);
  },
  // fal's `end` is exclusive and the window was read up to it; late events before it come back with the lookback.
  cursorAfter(_ctx, window) {
    return window.end;
  },
  async *readWindow(ctx, window) {
    const query = {
      start: formatInstant(window.start),
      end: formatInstant(window.end),
      expand: ['auth_method_structured'],
    };
    for await (const page of cursorPages({
      client: ctx.client,
      path: PATH,
      query,
      limit: ORG_BILLING_EVENTS_PAGE_LIMIT,
      schema: EventsPage,
    })) {
      const items = page.billing_events;
      const records = new Array<StreamRecord>(items.length);
      for (let i = 0; i < items.length; i++) records[i] = completeEvent(items[i], window, ORG_EVENTS);
      yield records;
    }
  },
};
