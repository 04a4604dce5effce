import { describe, expect, it } from 'vitest';

import { falRequest, keysPage } from '../../integration_tests/helpers/fal-builders.js';
import { collect, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { apiKeys } from './api_keys.js';
import type { StreamRecord } from './stream.js';

const KEY = {
  key_id: 'abc123def456',
  alias: 'Production Key',
  scope: 'API',
  created_at: '2025-01-15T12:00:00+00:00',
  creator_nickname: 'alice',
  creator_email: 'alice@example.com',
};

const { context, paths, logs, reply } = useFalMock({ now: Date.UTC(2026, 6, 27) });

/** Exactly what the stream asks for: 100 keys a page, with creator info. */
const REQUEST = falRequest('/v1/keys').withExpand('creator_info').withLimit(100);

const readAll = (): Promise<StreamRecord[]> => collect(apiKeys.read(context()));

describe('api_keys.read', () => {
  it('given two pages of keys when read then every key comes back with a UTC created_at, asked 100 a page with creator info', async () => {
    reply(REQUEST, keysPage(KEY).withNext('Mg=='));
    reply(REQUEST.withCursor('Mg=='), keysPage({ ...KEY, key_id: 'second', created_at: null }));

    const rows = await readAll();

    expect(rows).toEqual([
      { ...KEY, created_at: '2025-01-15T12:00:00Z' },
      { ...KEY, key_id: 'second', created_at: null },
    ]);
    expect(paths).toHaveLength(2);
  });

  it('given a key with fields that could hold a secret when read then they are dropped and a WARN names the fields, never their values', async () => {
    // Regression guard: a secret must never reach a warehouse, even if fal starts sending one.
    reply(REQUEST, keysPage({ ...KEY, key: 'abc123def456:s3cr3t', key_secret: 's3cr3t', token: 't0k3n' }));

    const rows = await readAll();

    expect(rows).toEqual([{ ...KEY, created_at: '2025-01-15T12:00:00Z' }]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain('key, key_secret, token');
    expect(logs[0]).not.toContain('s3cr3t');
  });
});
