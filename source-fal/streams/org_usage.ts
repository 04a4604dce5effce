/**
 * `org_usage`: usage and cost of every team of a fal organization, per UTC bucket, team, product line
 * (`model_apis`, `serverless`, `compute`), endpoint, unit, price and auth method. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/usage, https://fal.ai/docs/platform-apis/v1/organization/usage (fal-api.md §6.1).
 * Org lines carry only `cost` (no cost_total, no discount fields), and fal does not say whether it is before or
 * after discount: the record keeps fal's `cost` under that name and adds `cost_nano_usd`.
 */
import { z } from 'zod';

import { usdToNano } from '../money.js';
import { AuthMethodStructured, authColumns, bucketedStream } from './bucketed.js';
import { digestId } from './record-id.js';

const OrgUsageLine = z
  .object({
    username: z.string(),
    // model_apis | serverless | compute today; kept a string so a new product line flows through.
    product: z.string(),
    endpoint_id: z.string(),
    unit: z.string(),
    quantity: z.number(),
    unit_price: z.number(),
    cost: z.number(),
    currency: z.string().nullish(),
    auth_method: z.string().nullish(),
    auth_method_structured: AuthMethodStructured.nullish(),
  })
  .loose();

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
    return {
      ...rest,
      id: digestId([timeframe, bucket, line.username, line.product, line.endpoint_id, line.unit, line.unit_price, ...auth.identity]),
      bucket,
      timeframe,
      cost_nano_usd: usdToNano(line.cost),
      currency: line.currency ?? 'USD',
      ...auth.columns,
    };
  },
});
