/**
 * `org_focus`: a fal organization's finalized invoices, one record per FOCUS line item, each attributed to its
 * team by SubAccountId / SubAccountName. Organization root ADMIN keys only.
 * Endpoint: GET /v1/organization/focus?source=invoice&billing_month=YYYY-MM (text/csv),
 * operation getOrganizationFocusReport of fal's OpenAPI (https://api.fal.ai/v1/openapi.json; fal has no rendered page
 * for it yet), the same CSV as https://fal.ai/docs/platform-apis/v1/account/focus. Billing months, cursor and
 * settling as for `invoices` (focus-invoice.ts).
 */
import { invoiceStream } from './focus-invoice.js';

export const orgFocus = invoiceStream({
  name: 'org_focus',
  path: '/organization/focus',
  requires: 'org_admin',
  docsUrl: 'https://api.fal.ai/v1/openapi.json',
  needs: "an ADMIN key of the organization's root team, with FOCUS billing reports",
});
