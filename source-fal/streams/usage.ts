/**
 * `usage`: Model-API usage and cost per UTC bucket, endpoint, unit, price, discount and auth method.
 * Endpoint: GET /v1/models/usage, https://fal.ai/docs/platform-apis/v1/models/usage.
 * Grain: bucket × endpoint_id × unit × unit_price × percent_discount × auth method; no natural key, so `id` is a digest.
 */
import { z } from 'zod';

import { usdToNano } from '../money.js';
import { authColumns, AuthMethodStructured, bucketedStream } from './bucketed.js';
import { digestId } from './record-id.js';

const UsageLine = z
  .object({
    endpoint_id: z.string(),
    unit: z.string(),
    quantity: z.number(),
    unit_price: z.number(),
    percent_discount: z.number().nullish(),
    cost_subtotal: z.number().nullish(),
    cost_discount: z.number().nullish(),
    cost_total: z.number().nullish(),
    // Deprecated by fal in favour of cost_total; older responses carry only this.
    cost: z.number().nullish(),
    currency: z.string().nullish(),
    auth_method: z.string().nullish(),
    auth_method_structured: AuthMethodStructured.nullish(),
  })
  .loose()
  .refine((line) => typeof line.cost_total === 'number' || typeof line.cost === 'number', {
    message: 'a usage line has neither cost_total nor cost',
  });

export const usage = bucketedStream({
  name: 'usage',
  path: '/models/usage',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/usage',
  requires: 'admin',
  expand: ['time_series', 'auth_method_structured'],
  line: UsageLine,
  toRecord(line, bucket, timeframe) {
    const { auth_method_structured: structured, auth_method: label, ...rest } = line;
    const auth = authColumns(structured ?? undefined, label ?? undefined);
    const costTotal = line.cost_total ?? line.cost ?? null;
    const percentDiscount = line.percent_discount ?? null;
    return {
      ...rest,
      // No discount may come as null or 0; both mean the same grain, so both key the same row.
      id: digestId([
        timeframe,
        bucket,
        line.endpoint_id,
        line.unit,
        line.unit_price,
        percentDiscount ?? 0,
        ...auth.identity,
      ]),
      bucket,
      timeframe,
      percent_discount: percentDiscount,
      cost_subtotal: line.cost_subtotal ?? null,
      cost_discount: line.cost_discount ?? null,
      cost_total: costTotal,
      cost_total_nano_usd: usdToNano(costTotal),
      currency: line.currency ?? 'USD',
      ...auth.columns,
    };
  },
});
