/**
 * `credits`: the account's prepaid credit balance, a point-in-time snapshot stamped with the time it was read.
 * Endpoint: GET /v1/account/billing?expand=credits, https://fal.ai/docs/platform-apis/v1/account/billing.
 * fal keeps no history of the balance, so each full refresh replaces the one row per account;
 * keep history by appending in the destination (e.g. Full refresh | Append) and reading `read_at`.
 */
import { z } from 'zod';

import { usdToNano } from '../money.js';
import { formatInstant } from '../time.js';
import type { SnapshotStream } from './stream.js';

const AccountBilling = z
  .object({
    username: z.string().min(1),
    // Present only when expanded; a response without it would be a silent "no balance", so it is required here.
    credits: z.object({ current_balance: z.number(), currency: z.string() }).loose(),
  })
  .loose();

export const credits: SnapshotStream = {
  kind: 'snapshot',
  name: 'credits',
  primaryKey: ['username'],
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/account/billing',
  async *read(ctx) {
    const { body } = await ctx.client.getJson('/account/billing', { expand: ['credits'] }, AccountBilling);
    const { credits: balance, ...account } = body;
    yield [
      {
        ...account,
        ...balance,
        current_balance_nano_usd: usdToNano(balance.current_balance),
        // The run's clock, not the wall clock at this line: one run stamps every snapshot it takes alike.
        read_at: formatInstant(ctx.config.nowMs),
      },
    ];
  },
};
