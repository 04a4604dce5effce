/**
 * `usage_by_tag`: Model-API usage and cost per UTC bucket split by cost-allocation tags.
 * Endpoint: GET /v1/models/usage?source=tagged-estimate (https://fal.ai/docs/platform-apis/v1/models/usage); tags
 * are what callers send in `X-Fal-Tags` (https://fal.ai/docs/documentation/model-apis/request-tags).
 * Grain: the grain of `usage` × `tags`. Usage of requests that set no tag appears with `tags` = `{}`.
 * fal's tagged aggregate needs tagged reporting enabled, covers endpoint requests only, lags the plain estimate and
 * can differ from it, so the stream re-reads at least TAG_LOOKBACK_DAYS whatever lookback_days says.
 */
import { z } from 'zod';

import { bucketedStream } from './bucketed.js';
import { UsageLine, usageRecord } from './usage.js';

/** How far back every run reads the tagged aggregate again, at least: it fills in hours after the estimate. */
const TAG_LOOKBACK_DAYS = 2;

const Tags = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
const TaggedLine = UsageLine.and(z.object({ tags: Tags.nullish() }).loose());

/** The tags as canonical JSON (sorted keys), so the same tags always make the same id. */
function canonical(tags: z.infer<typeof Tags>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

export const usageByTag = bucketedStream({
  name: 'usage_by_tag',
  path: '/models/usage',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/usage',
  requires: 'admin',
  expand: ['time_series', 'auth_method_structured'],
  query: { source: 'tagged-estimate' },
  minLookbackDays: TAG_LOOKBACK_DAYS,
  line: TaggedLine,
  toRecord(line, bucket, timeframe) {
    const tags = line.tags ?? {};
    return { ...usageRecord(line, bucket, timeframe, ['tags', canonical(tags)]), tags };
  },
});
