import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseConfig } from '../config.js';
import { ResponseShapeError } from '../errors.js';
import { FalClient } from '../http/client.js';
import { silentLogger } from '../log.js';
import { credits } from './credits.js';
import type { StreamContext, StreamRecord } from './stream.js';

const ORIGIN = 'https://api.fal.ai';
const NOW = Date.UTC(2026, 6, 27, 15, 30);

let mockAgent: MockAgent;
let paths: string[];

function context(): StreamContext {
  const config = parseConfig({ api_key: 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f' }, NOW);
  const client = new FalClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, dispatcher: mockAgent, sleep: async () => undefined, random: () => 1 });
  return { config, client, log: silentLogger, signal: new AbortController().signal };
}

function answer(body: unknown): void {
  mockAgent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith('/v1/account/billing'), method: 'GET' })
    .reply((opts) => {
      paths.push(opts.path);
      return { statusCode: 200, data: JSON.stringify(body), responseOptions: { headers: { 'content-type': 'application/json' } } };
    });
}

async function readAll(): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for await (const batch of credits.read(context())) out.push(...batch);
  return out;
}

beforeEach(() => {
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
  paths = [];
});

afterEach(async () => {
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

describe('credits.read', () => {
  it('given the docs example when read then one row with the balance, its exact nano value and the run clock as read_at', async () => {
    answer({ username: 'my-team', credits: { current_balance: 24.5, currency: 'USD' } });

    expect(await readAll()).toEqual([
      { username: 'my-team', current_balance: 24.5, currency: 'USD', current_balance_nano_usd: 24_500_000_000, read_at: '2026-07-27T15:30:00Z' },
    ]);
    expect(new URL(paths[0] ?? '', ORIGIN).searchParams.get('expand')).toBe('credits');
  });

  it('given a response without credits when read then a ResponseShapeError, not a row without a balance', async () => {
    answer({ username: 'my-team' });

    await expect(readAll()).rejects.toBeInstanceOf(ResponseShapeError);
  });
});
