/**
 * `GET /v1/organization/focus`: an organization's FOCUS report (fal's OpenAPI, operation getOrganizationFocusReport,
 * https://api.fal.ai/v1/openapi.json). ADMIN key of the organization's root team with FOCUS reports, else 403.
 *
 * - `source=invoice&billing_month=YYYY-MM` (or `charge_month`, or neither = the current month): the organization's
 *   invoice = the lines of each team's own invoice of that month (focus.ts buildInvoice, issued at the same time),
 *   each with SubAccountId / SubAccountName = its team, so the organization's total is the sum of its teams'.
 *   404 `not_found` while no team's invoice is issued.
 * - `source=estimate|tagged-estimate`: not emulated (400).
 */
import { buildInvoice, CSV_TYPE, type FocusRow, focusSource, renderCsv, requestedBillingMonth } from './focus.js';
import { requireOrgRoot, teamsOf } from './org.js';
import { ApiError, DOCS_BASE } from './params.js';
import type { Route, RouteContext } from './routes.js';

const ORG_FOCUS_DOCS = `${DOCS_BASE}/organization/focus`;

function orgFocusReport(ctx: RouteContext): { body: string; contentType: string } {
  const org = requireOrgRoot(ctx, ORG_FOCUS_DOCS);
  const source = focusSource(ctx, ORG_FOCUS_DOCS);
  if (source !== 'invoice')
    throw new ApiError(
      400,
      'validation_error',
      `The emulator serves source=invoice only, not ${source}`,
      ORG_FOCUS_DOCS,
    );
  const billingMonth = requestedBillingMonth(ctx.params, ctx.nowMs, ORG_FOCUS_DOCS);
  const rows: FocusRow[] = [];
  for (const team of teamsOf(org, ctx.world)) {
    const invoice = buildInvoice(ctx.world, ctx.engine, ctx.world.requireAccount(team.username), billingMonth);
    if (invoice === undefined || ctx.nowMs < invoice.issuedAtMs) continue;
    for (const row of invoice.rows) rows.push({ ...row, SubAccountId: team.username, SubAccountName: team.name });
  }
  if (rows.length === 0)
    throw new ApiError(
      404,
      'not_found',
      `No invoice has been issued for billing month ${billingMonth}`,
      ORG_FOCUS_DOCS,
    );
  return { body: renderCsv(rows), contentType: CSV_TYPE };
}

export const ORG_FOCUS_ROUTES: readonly (readonly [string, Route])[] = [
  ['/v1/organization/focus', { scope: 'ADMIN', docsUrl: ORG_FOCUS_DOCS, handler: orgFocusReport }],
];
