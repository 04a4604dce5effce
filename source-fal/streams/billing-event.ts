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
import { cursorPages } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import { formatInstant, formatWindow, normalizeTimestamp, type Window } from '../time.js';
import type { Capability, IncrementalStream, StreamContext, StreamRecord } from './stream.js';
import { lookbackWindows } from './stream.js';

// The items are checked one by one in completeEvent; `z.array(z.unknown())` would copy a 10,000-item array per page.
const EventsPage = CursorEnvelope.extend({
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

/** What one billing-events stream declares; the windows, paging and records are the same for both. */
export interface EventStreamOptions {
  name: string;
  path: string;
  requires: Capability;
  docsUrl: string;
  /** Page size: fal's documented cap for the endpoint. */
  pageLimit: number;
  organization: boolean;
  /** Window length for this run (aligned to itself from UTC midnight). */
  windowMs: (ctx: StreamContext) => number;
}

/**
 * A billing-events stream (`billing_events`, `org_billing_events`). The cursor after a window is its exclusive
 * `end`, floored to the second because events carry whole seconds: every event before it has been read as of this
 * run; late ones are the lookback's job.
 */
export function eventStream(options: EventStreamOptions): IncrementalStream {
  const source: EventSource = { endpoint: `GET ${options.path}`, organization: options.organization };
  return {
    kind: 'incremental',
    name: options.name,
    primaryKey: ['request_id'],
    cursorField: 'timestamp',
    requires: options.requires,
    docsUrl: options.docsUrl,
    windows(ctx, saved) {
      // Aligned to the window size from UTC midnight: a resumed run starts where the saved cursor is, and the
      // lookback re-reads whole windows.
      const step = options.windowMs(ctx);
      return lookbackWindows(ctx, saved, step, step);
    },
    cursorAfter(_ctx, window) {
      return Math.floor(window.end / 1000) * 1000;
    },
    async *readWindow(ctx, window) {
      const query = {
        start: formatInstant(window.start),
        end: formatInstant(window.end),
        expand: ['auth_method_structured'],
      };
      for await (const page of cursorPages({
        client: ctx.client,
        path: options.path,
        query,
        limit: options.pageLimit,
        schema: EventsPage,
      })) {
        const items = page.billing_events;
        const records = new Array<StreamRecord>(items.length);
        for (let i = 0; i < items.length; i++) records[i] = completeEvent(items[i], window, source);
        yield records;
      }
    },
  };
}
