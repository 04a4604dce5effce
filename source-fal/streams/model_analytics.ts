/**
 * `model_analytics`: request counts and billable duration per UTC bucket and Model-API endpoint, for unit economics
 * (cost per successful request, spend on failed requests) beside `usage`.
 * Endpoint: GET /v1/models/analytics (https://fal.ai/docs/platform-apis/v1/models/analytics), always with
 * timezone=UTC and an explicit timeframe so buckets are UTC and do not depend on the range.
 * `endpoint_id` is required (1–50 a call), so the ids are the endpoints of the account's usage between start_date
 * and end_date plus the config's `endpoint_ids` (as for `pricing`), asked for 50 at a time.
 * Grain: bucket × endpoint_id. A metric fal leaves out is unknown (null), never zero.
 */
import { z } from 'zod';

import { bucketedStream } from './bucketed.js';
import { endpointIdsSeenInUsage } from './pricing.js';
import { digestId } from './record-id.js';
import type { StreamContext } from './stream.js';

/** fal OpenAPI: `endpoint_id` takes 1–50 values. */
const MAX_IDS = 50;
const METRICS = ['request_count', 'success_count', 'user_error_count', 'error_count', 'total_billable_duration'];

const count = z.number().int().nonnegative().nullish();
const AnalyticsLine = z
  .object({
    endpoint_id: z.string().min(1),
    request_count: count,
    success_count: count,
    user_error_count: count,
    error_count: count,
    total_billable_duration: z.number().nonnegative().nullish(),
  })
  .loose();

/** Per run: the endpoint ids to ask about, in batches of 50. */
const batchesOfRun = new WeakMap<StreamContext, Promise<{ endpoint_id: string[] }[]>>();

async function endpointBatches(ctx: StreamContext): Promise<{ endpoint_id: string[] }[]> {
  const ids = [...new Set([...(await endpointIdsSeenInUsage(ctx)), ...ctx.config.endpointIds])].sort();
  const batches: { endpoint_id: string[] }[] = [];
  for (let i = 0; i < ids.length; i += MAX_IDS) batches.push({ endpoint_id: ids.slice(i, i + MAX_IDS) });
  return batches;
}

export const modelAnalytics = bucketedStream({
  name: 'model_analytics',
  path: '/models/analytics',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/analytics',
  requires: 'admin',
  expand: ['time_series', ...METRICS],
  line: AnalyticsLine,
  batches(ctx) {
    let batches = batchesOfRun.get(ctx);
    if (batches === undefined) batchesOfRun.set(ctx, (batches = endpointBatches(ctx)));
    return batches;
  },
  toRecord(line, bucket, timeframe) {
    return {
      ...line,
      id: digestId([timeframe, bucket, line.endpoint_id]),
      bucket,
      timeframe,
      request_count: line.request_count ?? null,
      success_count: line.success_count ?? null,
      user_error_count: line.user_error_count ?? null,
      error_count: line.error_count ?? null,
      total_billable_duration: line.total_billable_duration ?? null,
    };
  },
});
