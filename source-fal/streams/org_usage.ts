/**
 * `org_usage`: usage and cost of every team of a fal organization, per UTC bucket, team, product line
 * (`model_apis`, `serverless`, `compute`), endpoint, unit, price, discount rate and auth method. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/usage, https://fal.ai/docs/platform-apis/v1/organization/usage.
 * fal's current OpenAPI (https://api.fal.ai/v1/openapi.json) gives each line percent_discount, cost_subtotal,
 * cost_discount and cost_total beside `cost`, one line per discount rate as /models/usage does; earlier versions
 * sent `cost` only. Both shapes are read: the discount is part of the grain, and cost_total falls back to `cost`.
 */
import { z } from 'zod';

import { usdToNano } from '../money.js';
import { authColumns, AuthMethodStructured, bucketedStream, moneyColumns, usageLine } from './bucketed.js';
import { digestId } from './record-id.js';

const OrgUsageLine = usageLine('an organization usage line', {
  username: z.string(),
  // model_apis | serverless | compute today; kept a string so a new product line flows through.
  product: z.string(),
  endpoint_id: z.string(),
  auth_method: z.string().nullish(),
  auth_method_structured: AuthMethodStructured.nullish(),
});

export const orgUsage = bucketedStream({
  name: 'org_usage',
  path: '/organization/usage',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/organization/usage',
  requires: 'org_admin',
  expand: ['time_series', 'auth_method_structured'],
  line: OrgUsageLine,
  toRecord(line, bucket, timeframe) {
    const { auth_method_structured: structured, auth_method: label, ...rest } = line;
    const auth = authColumns(structured ?? undefined, label ?? undefined);
    const money = moneyColumns(line);
    const cost = line.cost ?? money.cost_total;
    const percentDiscount = money.percent_discount;
    // A line with no discount keeps the id the older shape (no discount fields) gave it, so rows read before fal
    // added the fields are updated, not duplicated; only a real discount rate joins the grain.
    const discountPart = percentDiscount === null || percentDiscount === 0 ? [] : [percentDiscount];
    return {
      ...rest,
      id: digestId([
        timeframe,
        bucket,
        line.username,
        line.product,
        line.endpoint_id,
        line.unit,
        line.unit_price,
        ...discountPart,
        ...auth.identity,
      ]),
      bucket,
      timeframe,
      ...money,
      cost,
      cost_nano_usd: usdToNano(cost),
      ...auth.columns,
    };
  },
});
