import { describe, expect, it } from 'vitest';

import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ConfigError, ResponseShapeError } from '../errors.js';
import type { StreamRecord } from './stream.js';
import { teams } from './teams.js';

const TEAM = { username: 'acme', name: 'Acme Inc', is_org_root: true, created_at: '2025-01-01T00:00:00+00:00' };

const { context, reply } = useFalMock({ now: Date.UTC(2026, 6, 27) });

function answer(status: number, body: unknown): void {
  reply('/v1/organization/teams', { status, body });
}

const readAll = (): Promise<StreamRecord[]> => collect(teams.read(context()));

describe('teams.read', () => {
  it('given the teams list when read then every team comes back once with a UTC created_at', async () => {
    answer(200, { teams: [TEAM, { ...TEAM, username: 'acme-ml', name: 'ML', is_org_root: false }] });

    expect(await readAll()).toEqual([
      { ...TEAM, created_at: '2025-01-01T00:00:00Z' },
      { ...TEAM, username: 'acme-ml', name: 'ML', is_org_root: false, created_at: '2025-01-01T00:00:00Z' },
    ]);
  });

  it('given a created_at that is not a timestamp when read then a ResponseShapeError naming the team', async () => {
    answer(200, { teams: [{ ...TEAM, created_at: 'long ago' }] });

    await expect(readAll()).rejects.toThrow(ResponseShapeError);
  });

  it('given a key that is not on the organization root when read then a config_error that says so', async () => {
    // Regression: the generic 403 text told an ADMIN-key user to create an ADMIN key.
    answer(403, { error: { type: 'authorization_error', message: 'not an organization root' } });

    const error = await readAll().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).failureType).toBe('config_error');
    expect((error as ConfigError).message).toContain("ADMIN key of the organization's root team");
  });
});
