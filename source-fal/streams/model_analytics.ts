/**
 * `model_analytics`: request counts and billable duration per UTC bucket and Model-API endpoint, for unit economics
 * (cost per successful request, spend on failed requests) beside `usage`.
 * Endpoint: GET /v1/models/analytics (https://fal.ai/docs/platform-apis/v1/models/analytics). The ids asked about
 * are the endpoints of the account's usage between start_date and end_date plus the config's `endpoint_ids` (the
 * same list `pricing` prices).
 */
import { analyticsStream } from './analytics.js';
import { endpointIdsSeenInUsage } from './pricing.js';

export const modelAnalytics = analyticsStream({
  name: 'model_analytics',
  path: '/models/analytics',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/models/analytics',
  endpointIds: async (ctx) => [...(await endpointIdsSeenInUsage(ctx)), ...ctx.config.endpointIds],
});
