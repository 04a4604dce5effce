/**
 * `usage`: Model-API usage and cost per UTC bucket, endpoint, unit, price, discount and auth method.
 * Endpoint: GET /v1/models/usage, https://fal.ai/docs/platform-apis/v1/models/usage.
 * Grain: bucket × endpoint_id × unit × unit_price × percent_discount × auth method; no natural key, so `id` is a digest.
 */
import { z } from 'zod';

import { authColumns, AuthMethodStructured, bucketedStream, moneyColumns, usageLine } from './bucketed.js';
import { digestId } from './record-id.js';

export const UsageLine = usageLine('a usage line', {
  endpoint_id: z.string(),
  auth_method: z.string().nullish(),
  auth_method_structured: AuthMethodStructured.nullish(),
});

/** The record of one usage line; `identity` adds grain parts to the id (usage_by_tag's tags). */
export function usageRecord(
  line: z.infer<typeof UsageLine>,
  bucket: string,
  timeframe: string,
  identity: readonly unknown[] = [],
): Record<string, unknown> {
  const { auth_method_structured: structured, auth_method: label, ...rest } = line;
  const auth = authColumns(structured ?? undefined, label ?? undefined);
  const money = moneyColumns(line);
  return {
    ...rest,
    // No discount may come as null or 0; both mean the same grain, so both key the same row.
    id: digestId([
      timeframe,
      bucket,
      line.endpoint_id,
      line.unit,
      line.unit_price,
      money.percent_discount ?? 0,
      ...auth.identity,
      ...identity,
    ]),
    bucket,
    timeframe,
    ...money,
    ...auth.columns,
  };
}

export const usage = bucketedStream({
  name: 'usage',
  path: '/models/usage',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/usage',
  requires: 'admin',
  expand: ['time_series', 'auth_method_structured'],
  line: UsageLine,
  toRecord: (line, bucket, timeframe) => usageRecord(line, bucket, timeframe),
});
