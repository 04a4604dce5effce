/**
 * One fal billing event made into a record, for `billing_events` (GET /v1/models/billing-events) and
 * `org_billing_events` (GET /v1/organization/billing-events): fal's docs describe the same event.
 *
 * These are the high-volume streams (a busy account bills hundreds of thousands of requests a day), so the per-event
 * work is kept small: the page envelope is parsed strictly, each item only gets typeof checks on the fields the
 * record relies on, and it is completed in place rather than copied.
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import { CursorEnvelope } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import { formatWindow, normalizeTimestamp, type Window } from '../time.js';
import type { StreamRecord } from './stream.js';

// The items are checked one by one in completeEvent; `z.array(z.unknown())` would copy a 10,000-item array per page.
export const EventsPage = CursorEnvelope.extend({
  billing_events: z.custom<unknown[]>(Array.isArray, { message: 'expected an array of billing events' }),
});

/** What differs between the two endpoints' events. */
export interface EventSource {
  /** e.g. `GET /models/billing-events`, for errors. */
  endpoint: string;
  /**
   * The organization's events: each names its team (`username`, part of the row); `cost_total` may be missing, so
   * the exact charge goes to a column of its own, `cost_total_nano_usd`, and fal's `cost_estimate_nano_usd` stays as
   * sent (schemas/org_billing_events.json). The account's events always carry `cost_total`, and their record
   * completes fal's own `cost_estimate_nano_usd` (schemas/billing_events.json).
   */
  organization: boolean;
}

type Item = Record<string, unknown>;

/**
 * Checks one event and turns it into its record in place: `timestamp` as RFC 3339 UTC, the auth method flattened
 * into `auth_method` / `api_key_id` / `login_username` (as in `usage`), and the charge as exact integer nano-USD.
 * Unknown fields pass through untouched. A missing key or cursor stops the stream: a skipped event would
 * under-count spend without an error.
 */
/** Built only when an event is bad (no closure per event: this path runs millions of times a sync). */
function shapeError(source: EventSource, window: Window, what: string): ResponseShapeError {
  return new ResponseShapeError(
    `fal's response to ${source.endpoint} holds ${what}. fal may have changed its API; upgrade source-fal or report this.`,
    {
      endpoint: source.endpoint,
      window: formatWindow(window),
    },
  );
}

export function completeEvent(value: unknown, window: Window, source: EventSource): StreamRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw shapeError(source, window, 'an item that is not an object');
  const event = value as Item;
  const requestId = event.request_id;
  if (typeof requestId !== 'string' || requestId.length === 0)
    throw shapeError(source, window, 'an event without a request_id');
  if (source.organization && typeof event.username !== 'string')
    throw shapeError(source, window, `event ${requestId} without a team username`);
  const timestamp = event.timestamp;
  if (typeof timestamp !== 'string') throw shapeError(source, window, `event ${requestId} without a timestamp`);
  try {
    event.timestamp = normalizeTimestamp(timestamp);
  } catch {
    throw shapeError(
      source,
      window,
      `event ${requestId} with a timestamp that is not one: ${JSON.stringify(timestamp)}`,
    );
  }

  const costTotal = event.cost_total;
  const nano = event.cost_estimate_nano_usd;
  // fal's integer is the exact charge (it may briefly be null while billing catches up); only when it
  // is missing or not an integer is it derived from the decimal.
  const exact = typeof nano === 'number' && Number.isSafeInteger(nano) ? nano : undefined;
  if (source.organization) {
    event.cost_total_nano_usd = exact ?? usdToNano(typeof costTotal === 'number' ? costTotal : null);
  } else {
    if (typeof costTotal !== 'number')
      throw shapeError(source, window, `event ${requestId} without a numeric cost_total`);
    if (exact === undefined) event.cost_estimate_nano_usd = usdToNano(costTotal);
  }

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
  return event;
}
