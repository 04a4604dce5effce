import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseConfig } from '../config.js';
import { FalClient } from '../http/client.js';
import type { Logger } from '../log.js';
import { apiKeys } from './api_keys.js';
import type { StreamContext, StreamRecord } from './stream.js';

const ORIGIN = 'https://api.fal.ai';
const KEY = { key_id: 'abc123def456', alias: 'Production Key', scope: 'API', created_at: '2025-01-15T12:00:00+00:00', creator_nickname: 'alice', creator_email: 'alice@example.com' };

let mockAgent: MockAgent;
let paths: string[];
let logged: string[];

function context(): StreamContext {
  const config = parseConfig({ api_key: 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f' }, Date.UTC(2026, 6, 27));
  const client = new FalClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, dispatcher: mockAgent, sleep: async () => undefined, random: () => 1 });
  const log: Logger = { log: (level, message) => logged.push(`${level} ${message}`) };
  return { config, client, log, signal: new AbortController().signal };
}

function page(keys: unknown[], nextCursor: string | null = null): void {
  mockAgent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith('/v1/keys?'), method: 'GET' })
    .reply((opts) => {
      paths.push(opts.path);
      return { statusCode: 200, data: JSON.stringify({ keys, next_cursor: nextCursor, has_more: nextCursor !== null }), responseOptions: { headers: { 'content-type': 'application/json' } } };
    });
}

async function readAll(): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for await (const batch of apiKeys.read(context())) out.push(...batch);
  return out;
}

beforeEach(() => {
  mockAgent = new MockAgent();
  mockAgent.disableNetConnect();
  paths = [];
  logged = [];
});

afterEach(async () => {
  mockAgent.assertNoPendingInterceptors();
  await mockAgent.close();
});

describe('api_keys.read', () => {
  it('given two pages of keys when read then every key comes back with a UTC created_at, asked 100 a page with creator info', async () => {
    page([KEY], 'Mg==');
    page([{ ...KEY, key_id: 'second', created_at: null }]);

    const rows = await readAll();

    expect(rows).toEqual([{ ...KEY, created_at: '2025-01-15T12:00:00Z' }, { ...KEY, key_id: 'second', created_at: null }]);
    expect(Object.fromEntries(new URL(paths[0] ?? '', ORIGIN).searchParams)).toEqual({ expand: 'creator_info', limit: '100' });
    expect(new URL(paths[1] ?? '', ORIGIN).searchParams.get('cursor')).toBe('Mg==');
  });

  it('given a key with fields that could hold a secret when read then they are dropped and a WARN names the fields, never their values', async () => {
    // Regression guard: a secret must never reach a warehouse, even if fal starts sending one.
    page([{ ...KEY, key: 'abc123def456:s3cr3t', key_secret: 's3cr3t', token: 't0k3n' }]);

    const rows = await readAll();

    expect(rows).toEqual([{ ...KEY, created_at: '2025-01-15T12:00:00Z' }]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('key, key_secret, token');
    expect(logged[0]).not.toContain('s3cr3t');
  });
});
