/**
 * The request-analytics streams (`model_analytics`, `serverless_analytics`): request counts and billable duration
 * per UTC bucket and endpoint, always asked with timezone=UTC and an explicit timeframe so buckets are UTC and do not
 * depend on the range. `endpoint_id` is required (1–50 a call), so each stream says which ids to ask about; they are
 * asked 50 at a time. Grain: bucket × endpoint_id. A metric fal leaves out is unknown (null), never zero.
 */
import { z } from 'zod';

import { bucketedStream } from './bucketed.js';
import { digestId } from './record-id.js';
import type { IncrementalStream, StreamContext } from './stream.js';

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

export interface AnalyticsStreamOptions {
  name: string;
  path: string;
  docsUrl: string;
  /** The endpoint ids to ask about in this run. */
  endpointIds(ctx: StreamContext): Promise<readonly string[]>;
}

export function analyticsStream(options: AnalyticsStreamOptions): IncrementalStream {
  // Per run: the ids in batches of 50, found once.
  const batchesOfRun = new WeakMap<StreamContext, Promise<{ endpoint_id: string[] }[]>>();
  const batchesFor = async (ctx: StreamContext): Promise<{ endpoint_id: string[] }[]> => {
    const ids = [...new Set(await options.endpointIds(ctx))].sort();
    const batches: { endpoint_id: string[] }[] = [];
    for (let i = 0; i < ids.length; i += MAX_IDS) batches.push({ endpoint_id: ids.slice(i, i + MAX_IDS) });
    return batches;
  };
  return bucketedStream({
    name: options.name,
    path: options.path,
    docsUrl: options.docsUrl,
    requires: 'admin',
    expand: ['time_series', ...METRICS],
    line: AnalyticsLine,
    batches(ctx) {
      let batches = batchesOfRun.get(ctx);
      if (batches === undefined) batchesOfRun.set(ctx, (batches = batchesFor(ctx)));
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
}
