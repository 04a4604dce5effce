/**
 * `teams`: the teams of the fal organization whose root team owns the key. Org-root ADMIN keys only.
 * Endpoint: GET /v1/organization/teams, https://fal.ai/docs/platform-apis/v1/organization/teams.
 * No parameters and no pagination: one call returns every team.
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import { normalizeTimestamp } from '../time.js';
import type { SnapshotStream } from './stream.js';

const Teams = z.object({
  teams: z.array(z.object({ username: z.string().min(1), created_at: z.string().nullish() }).loose()),
});

export const teams: SnapshotStream = {
  kind: 'snapshot',
  name: 'teams',
  primaryKey: ['username'],
  requires: 'org_admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/organization/teams',
  async *read(ctx) {
    const { body } = await ctx.client.getJson('/organization/teams', {}, Teams);
    yield body.teams.map((team) => ({ ...team, created_at: utcOrNull(team.created_at, team.username) }));
  },
};

function utcOrNull(text: string | null | undefined, username: string): string | null {
  if (text === null || text === undefined) return null;
  try {
    return normalizeTimestamp(text);
  } catch {
    throw new ResponseShapeError(
      `fal sent team ${username} with a created_at that is not a timestamp: ${JSON.stringify(text)}.`,
      {
        endpoint: 'GET /organization/teams',
      },
    );
  }
}
