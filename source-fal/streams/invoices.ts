/**
 * `invoices`: fal's finalized invoices of the key's account, one record per FOCUS line item (usage, tax, credit, …).
 * Endpoint: GET /v1/account/focus?source=invoice&billing_month=YYYY-MM (text/csv),
 * https://fal.ai/docs/platform-apis/v1/account/focus. Billing months, cursor and settling: focus-invoice.ts.
 */
import { invoiceStream } from './focus-invoice.js';

export const invoices = invoiceStream({
  name: 'invoices',
  path: '/account/focus',
  requires: 'focus',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/account/focus',
});
