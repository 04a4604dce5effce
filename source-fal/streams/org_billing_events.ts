/**
 * `org_billing_events`: one row per billed Model-API request of any team of a fal organization, with the team's
 * `username`. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/billing-events, https://fal.ai/docs/platform-apis/v1/organization/billing-events.
 * Windows are whole UTC days (docs/design.md: a busy organization makes
 * many events a day, and a killed run repeats at most one day); the cursor is the end of the last completed day,
 * and every incremental run re-reads `lookback_days` before it, re-emitting late events under the same request_id.
 * The stream is built like billing_events (billing-event.ts eventStream); only the endpoint, the page cap and the
 * team's `username` on every event differ.
 */
import { DAY_MS } from '../time.js';
import { eventStream } from './billing-event.js';

/** "limited to 100 records per page" (fal OpenAPI getOrganizationBillingEvents). */
const ORG_BILLING_EVENTS_PAGE_LIMIT = 100;

export const orgBillingEvents = eventStream({
  name: 'org_billing_events',
  path: '/organization/billing-events',
  requires: 'org_admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/organization/billing-events',
  pageLimit: ORG_BILLING_EVENTS_PAGE_LIMIT,
  organization: true,
  windowMs: () => DAY_MS,
});
