/**
 * Whole-connector tests of the `teams` stream: with an organization root key it is exactly the emulator's teams,
 * the same on every full refresh. Keys that may not read it are covered in key_scopes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { records, runCli, states, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

describe('given an organization with three teams in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  describe('when teams is read with the org root key', () => {
    it('then the records are the emulator’s teams, one request, no pagination, with a no-cursor final state', async () => {
      const run = await runCli(
        [
          'read',
          '--config',
          writeJson(dir, 'config.json', configFor(emu.url, { api_key: ORG_ADMIN_KEY })),
          '--catalog',
          writeJson(dir, 'catalog.json', catalogFor(['teams'])),
        ],
        { env: cliEnv() },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(records(run, 'teams')).toEqual(emu.truth.teams('acme'));
      expect(records(run, 'teams').filter((t) => t.is_org_root)).toEqual([
        expect.objectContaining({ username: 'acme' }),
      ]);
      expect(emu.requests.filter((r) => r.path === '/v1/organization/teams').map((r) => r.query)).toEqual([{}]);
      expect(states(run, 'teams').map((s) => s.stream.stream_state)).toEqual([{ __ab_no_cursor_state_message: true }]);
    });
  });
});
