/**
 * `org_billing_events`: one row per billed Model-API request of any team of a fal organization, with the team's
 * `username`. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/billing-events, https://fal.ai/docs/platform-apis/v1/organization/billing-events
 * (fal-api.md §6.2, §4 for the event fields). Windows are whole UTC days (DESIGN.md §3: a busy organization makes
 * many events a day, and a killed run repeats at most one day); the cursor is the end of the last completed day,
 * and every incremental run re-reads `lookback_days` before it, re-emitting late events under the same request_id.
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import { cursorPages, CursorEnvelope } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import { DAY_MS, formatInstant, formatWindow, normalizeTimestamp, type Window } from '../time.js';
import { lookbackWindows, type IncrementalStream, type StreamRecord } from './stream.js';

const PATH = '/organization/billing-events';

/** "limited to 100 records per page" (fal OpenAPI getOrganizationBillingEvents; fal-api.md §6.2). */
export const ORG_BILLING_EVENTS_PAGE_LIMIT = 100;

// Items stay unknown until the few fields the record needs are checked by hand: a full zod object per event costs
// more than the rest of the work on a page.
const Page = CursorEnvelope.extend({ billing_events: z.array(z.unknown()) });

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
    const query = { start: formatInstant(window.start), end: formatInstant(window.end), expand: ['auth_method_structured'] };
    for await (const page of cursorPages({ client: ctx.client, path: PATH, query, limit: ORG_BILLING_EVENTS_PAGE_LIMIT, schema: Page })) {
      const records: StreamRecord[] = new Array(page.billing_events.length);
      for (let i = 0; i < page.billing_events.length; i++) records[i] = eventRecord(page.billing_events[i], window);
      yield records;
    }
  },
};

/** One org billing event as a record: fal's fields, a UTC timestamp, flat auth columns and exact nano-USD. */
export function eventRecord(item: unknown, window: Window): StreamRecord {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) throw shapeError('a billing event is not a JSON object', window);
  const { auth_method_structured: structured, auth_method: label, ...event } = item as Record<string, unknown>;
  const { request_id: requestId, timestamp, username, cost_total: costTotal, cost_estimate_nano_usd: nano } = event;
  if (typeof requestId !== 'string' || requestId === '') throw shapeError('a billing event has no request_id', window);
  if (typeof username !== 'string') throw shapeError(`billing event ${requestId} has no team username`, window);
  if (typeof timestamp !== 'string') throw shapeError(`billing event ${requestId} has no timestamp`, window);
  let utc: string;
  try {
    utc = normalizeTimestamp(timestamp);
  } catch {
    throw shapeError(`billing event ${requestId} has a timestamp that is not one: ${JSON.stringify(timestamp)}`, window);
  }
  const auth = structured !== null && typeof structured === 'object' ? (structured as Record<string, unknown>) : undefined;
  const apiKeyId = typeof auth?.api_key_id === 'string' ? auth.api_key_id : null;
  const login = typeof auth?.login_username === 'string' ? auth.login_username : null;
  const detail = typeof auth?.detail === 'string' ? auth.detail : typeof label === 'string' ? label : null;
  return {
    ...event,
    timestamp: utc,
    // fal's own integer when it has one (it may briefly be null, fal-api.md §8), else derived from the decimal.
    cost_total_nano_usd: typeof nano === 'number' && Number.isInteger(nano) ? nano : usdToNano(typeof costTotal === 'number' ? costTotal : null),
    auth_method: detail,
    api_key_id: apiKeyId,
    login_username: login,
  };
}

function shapeError(what: string, window: Window): ResponseShapeError {
  return new ResponseShapeError(`fal's response to GET ${PATH} does not have the expected shape: ${what}. fal may have changed its API; upgrade source-fal or report this.`, {
    endpoint: `GET ${PATH}`,
    window: formatWindow(window),
  });
}
