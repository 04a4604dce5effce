/**
 * What a key can read. fal keys differ in scope (API vs ADMIN), in whether they sit on an organization's root team,
 * and in whether the account has FOCUS reports (fal-api.md §2.1, §6, §7.2). `discover` lists only readable streams
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

/** The admin probe doubles as the connection check: 401 and 403 propagate as config errors. */
export async function probeAdmin(ctx: StreamContext): Promise<string> {
  const response = await ctx.client.getJson('/account/billing', {}, Account);
  return response.body.username;
}

const probes: Record<Exclude<Capability, 'admin'>, (ctx: StreamContext) => Promise<Availability>> = {
  async org_admin(ctx) {
    const response = await ctx.client.getJson('/organization/teams', {}, z.object({ teams: z.array(z.unknown()) }).loose(), [403, 404]);
    return response.status === 200
      ? { ok: true }
      : { ok: false, reason: 'the key is not an ADMIN key on an organization root team (fal organizations are an enterprise feature)' };
  },
  async focus(ctx) {
    // A short estimate range is the cheap, side-effect-free way to ask "are FOCUS reports enabled" (fal-api.md §2.4).
    const end = ctx.config.nowMs;
    const response = await ctx.client.getText('/account/focus', { source: 'estimate', start: formatInstant(end - DAY_MS), end: formatInstant(end) }, [403, 404]);
    return response.status === 200
      ? { ok: true }
      : { ok: false, reason: 'FOCUS reports are not enabled for this fal account (an enterprise feature; ask fal support to enable FOCUS billing reports)' };
  },
};

/** Probes the capabilities in `needed`; `admin` must pass or the whole key is unusable. */
export async function probeCapabilities(ctx: StreamContext, needed: ReadonlySet<Capability>): Promise<{ username: string; available: Map<Capability, Availability> }> {
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
