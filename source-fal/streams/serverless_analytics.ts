/**
 * `serverless_analytics`: request counts and billable duration per UTC bucket for the endpoints of the serverless
 * apps you own. Endpoint: GET /v1/serverless/analytics (https://fal.ai/docs/platform-apis/v1/serverless/analytics):
 * it counts every inbound request to your endpoints (not only your own calls), and answers 403 for the whole call
 * if any id asked for is not yours. So the ids are `<your username>/<app>` for the apps of your serverless usage
 * between start_date and end_date (usage fal attributes to no app has no endpoint and is left out).
 */
import { z } from 'zod';

import { analyticsStream } from './analytics.js';
import { valuesInSummary } from './pricing.js';

const AccountBilling = z.object({ username: z.string().min(1) }).loose();

export const serverlessAnalytics = analyticsStream({
  name: 'serverless_analytics',
  path: '/serverless/analytics',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/serverless/analytics',
  async endpointIds(ctx) {
    const apps = await valuesInSummary(ctx, '/serverless/usage', 'app');
    if (apps.size === 0) return [];
    const { body } = await ctx.client.getJson('/account/billing', {}, AccountBilling);
    return [...apps].map((app) => `${body.username}/${app}`);
  },
});
