/**
 * `source-fal sync` into PostgreSQL, end to end against the fal emulator. The server is SOURCE_FAL_TEST_PG_URL when
 * set, else a testcontainers `postgres` when a Docker engine answers, else a throwaway local server from the
 * machine's PostgreSQL binaries (helpers/postgres.ts logs which one ran). Each scenario gets its own database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { loaderScenarios } from './helpers/loader-scenarios.js';
import { freshDatabase, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { postgresWarehouse, runSync, type TestWarehouse } from './helpers/sync.js';
import { syncScenarios } from './helpers/sync-scenarios.js';

let server: TestPostgres;
let warehouse: TestWarehouse;
let loaderDatabases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
  warehouse = postgresWarehouse(server.url);
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

syncScenarios(() => warehouse);

describe('given a PostgreSQL destination that cannot be used', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 5 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const env = (): Record<string, string> => ({
    ...cliEnv(),
    FAL_ADMIN_KEY: ADMIN_KEY,
    FAL_BASE_URL: emu.url,
    FAL_START_DATE: '2026-11-20',
  });

  describe('when nothing listens on the port', () => {
    it('then sync fails with one line that says the connection was refused and what to fix', async () => {
      const url = new URL(server.url);
      url.port = '1';
      const run = await runSync(['--destination', url.toString()], { env: env() });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /Cannot connect to PostgreSQL at .*:1: connection refused\. Start the server or fix the host and port/,
      );
    });
  });

  describe('when the database does not exist and the URL carries a password', () => {
    it('then the error names the database and never shows the password', async () => {
      const url = new URL(server.url);
      url.pathname = '/no_such_db';
      if (!url.password) url.password = 'pw-not-to-be-shown';
      const run = await runSync(['--destination', url.toString()], { env: env() });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/has no database "no_such_db"\. Create it/);
      expect(run.stderr + run.stdout).not.toContain(decodeURIComponent(url.password));
    });
  });
});

loaderScenarios('PostgreSQL', async (log) => {
  const { openPostgres } = await import('../source-fal/sync/postgres.js');
  return openPostgres(await freshDatabase(server.url, `loader_${++loaderDatabases}`), { log });
});
