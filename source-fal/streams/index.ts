/** The registry: the only list of streams. Order is the read order. */
import { apiKeys } from './api_keys.js';
import { billingEvents } from './billing_events.js';
import { credits } from './credits.js';
import { focusEstimates } from './focus_estimates.js';
import { invoices } from './invoices.js';
import { modelAnalytics } from './model_analytics.js';
import { orgBillingEvents } from './org_billing_events.js';
import { orgUsage } from './org_usage.js';
import { pricing } from './pricing.js';
import { serverlessUsage } from './serverless_usage.js';
import type { Stream } from './stream.js';
import { teams } from './teams.js';
import { usage } from './usage.js';
import { usageByTag } from './usage_by_tag.js';

// Usage-type streams first; pricing last, since it prices the endpoint ids seen in usage.
export const ALL_STREAMS: readonly Stream[] = [
  usage,
  usageByTag,
  billingEvents,
  invoices,
  focusEstimates,
  serverlessUsage,
  modelAnalytics,
  credits,
  apiKeys,
  teams,
  orgUsage,
  orgBillingEvents,
  pricing,
];

export function findStream(name: string): Stream | undefined {
  return ALL_STREAMS.find((stream) => stream.name === name);
}
