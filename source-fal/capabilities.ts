/**
 * What a key can read. fal keys differ in scope (API vs ADMIN), in whether they sit on an organization's root team,
 * and in whether the account has FOCUS reports. `discover` lists only readable streams
 * and `check` reports the groups, so a configured stream never fails for a reason we could have told in advance.
 */
import { z } from 'zod';

import { ConfigError } from './errors.js';
import type { Capability, StreamContext } from './streams/stream.js';
import { DAY_MS, formatInstant } from './time.js';

export interface Availability {
  ok: boolean;
  /** Why not, in words for the user. */
  reason?: string;
}

const Account = z.object({ username: z.string() }).loose();

/**
 * fal does not document what a key without a capability gets from the organization and FOCUS endpoints. Any client
 * error but 401 (the key itself is refused), 408 and 429 (retried) means "not available to this key", so an
 * unexpected 400 or 422 there never fails check or discover for every user.
 */
const ABSENT_STATUSES = Array.from({ length: 100 }, (_, i) => 400 + i).filter(
  (status) => status !== 401 && status !== 408 && status !== 429,
);

/** The admin probe doubles as the connection check: 401 and 403 propagate as config errors. */
async function probeAdmin(ctx: StreamContext): Promise<string> {
  const response = await ctx.client.getJson('/account/billing', {}, Account);
  return response.body.username;
}

const probes: Record<Exclude<Capability, 'admin'>, (ctx: StreamContext) => Promise<Availability>> = {
  async org_admin(ctx) {
    const response = await ctx.client.getJson(
      '/organization/teams',
      {},
      z.object({ teams: z.array(z.unknown()) }).loose(),
      ABSENT_STATUSES,
    );
    return response.status === 200
      ? { ok: true }
      : {
          ok: false,
          reason:
            'the key is not an ADMIN key on an organization root team (fal organizations are an enterprise feature)',
        };
  },
  async focus(ctx) {
    // A short estimate range is the cheap, side-effect-free way to ask "are FOCUS reports enabled".
    const end = ctx.config.nowMs;
    const response = await ctx.client.getText(
      '/account/focus',
      { source: 'estimate', start: formatInstant(end - DAY_MS), end: formatInstant(end) },
      ABSENT_STATUSES,
    );
    return response.status === 200
      ? { ok: true }
      : {
          ok: false,
          reason:
            'FOCUS reports are not enabled for this fal account (an enterprise feature; ask fal support to enable FOCUS billing reports)',
        };
  },
};

/** Probes the capabilities in `needed`; `admin` must pass or the whole key is unusable. */
export async function probeCapabilities(
  ctx: StreamContext,
  needed: ReadonlySet<Capability>,
): Promise<{ username: string; available: Map<Capability, Availability> }> {
  const username = await probeAdmin(ctx);
  const available = new Map<Capability, Availability>([['admin', { ok: true }]]);
  for (const capability of needed) {
    if (capability === 'admin') continue;
    try {
      available.set(capability, await probes[capability](ctx));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      available.set(capability, { ok: false, reason: error.message });
    }
  }
  return { username, available };
}
