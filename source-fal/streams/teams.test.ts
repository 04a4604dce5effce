import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseConfig } from '../config.js';
import { ConfigError, ResponseShapeError } from '../errors.js';
import { FalClient } from '../http/client.js';
import { silentLogger } from '../log.js';
import type { StreamContext, StreamRecord } from './stream.js';
import { teams } from './teams.js';

const ORIGIN = 'https://api.fal.ai';
const TEAM = { username: 'acme', name: 'Acme Inc', is_org_root: true, created_at: '2025-01-01T00:00:00+00:00' };

let mockAgent: MockAgent;

function context(): StreamContext {
  const config = parseConfig({ api_key: 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f' }, Date.UTC(2026, 6, 27));
  const client = new FalClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, dispatcher: mockAgent, sleep: async () => undefined, random: () => 1 });
  return { config, client, log: silentLogger, signal: new AbortController().signal };
}

function answer(status: number, body: unknown): void {
  mockAgent
    .get(ORIGIN)
    .intercept({ path: '/v1/organization/teams', method: 'GET' })
    .reply(status, JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
}

async function readAll(): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for await (const batch of teams.read(context())) out.push(...batch);
  return out;
}

beforeEach(() => {
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
});

afterEach(async () => {
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

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
