/**
 * Whole-connector tests of the `api_keys` stream: exactly the account's keys with alias, scope and creator, every
 * key id seen in usage resolvable, and not one secret in the output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, FIXTURE_KEYS, keysOfAccount } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

describe('given the acme-ml account and its four keys in the emulator', () => {
  let emu: Emulator;
  let run: CliResult;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
    const dir = tempDir();
    run = await runCli(
      [
        'read',
        '--config',
        writeJson(dir, 'config.json', configFor(emu.url, { api_key: ADMIN_KEY, start_date: '2026-11-20' })),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['usage', 'api_keys'])),
      ],
      { env: cliEnv() },
    );
  });
  afterAll(async () => {
    await emu.close();
  });

  describe('when api_keys is read', () => {
    it('then the records are exactly the account’s keys with alias, scope, creation time and creator', () => {
      expect(run.code, run.stderr).toBe(0);
      expect(records(run, 'api_keys')).toEqual(
        keysOfAccount('acme-ml').map((k) => ({
          key_id: k.keyId,
          alias: k.alias,
          scope: k.scope,
          created_at: k.createdAt,
          creator_nickname: k.creatorNickname,
          creator_email: k.creatorEmail,
        })),
      );
    });

    it('then every api_key_id in usage resolves to a key alias', () => {
      const aliases = new Map(records(run, 'api_keys').map((k) => [k.key_id, k.alias]));
      const used = new Set(
        records(run, 'usage')
          .map((r) => r.api_key_id)
          .filter((id) => id !== null),
      );
      expect(used.size).toBeGreaterThan(0);
      for (const id of used) expect(aliases.get(id), String(id)).toBeDefined();
    });

    it('then no key secret appears anywhere in the output or the logs', () => {
      for (const key of FIXTURE_KEYS) {
        const secret = key.key.split(':')[1] ?? key.key;
        expect(run.stdout).not.toContain(secret);
        expect(run.stderr).not.toContain(secret);
      }
      expect(emu.requests.filter((r) => r.path === '/v1/keys').map((r) => r.query)).toEqual([
        { expand: ['creator_info'], limit: ['100'] },
      ]);
    });
  });
});
