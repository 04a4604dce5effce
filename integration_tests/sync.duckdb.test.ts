/**
 * `source-fal sync` into an embedded DuckDB file, end to end against the fal emulator: the shared warehouse
 * scenarios, then what a user meets first: the demo, config from the environment, and the errors that must be one
 * clear line (no key, a bad destination, a locked file).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { tempDir } from './helpers/cli.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { duckdbWarehouse, runSync } from './helpers/sync.js';
import { syncScenarios } from './helpers/sync-scenarios.js';

const dir = tempDir('source-fal-duckdb-');
syncScenarios(() => duckdbWarehouse(dir));

describe('given a new user with no fal key', () => {
  describe('when they run sync --demo', () => {
    it('then the bundled emulator is synced into a DuckDB file and a sample query prints its result', async () => {
      const destination = join(dir, 'demo.duckdb');
      const run = await runSync(['--demo', '--destination', destination], { env: cliEnv() });
      expect(run.code, run.stderr).toBe(0);
      expect(existsSync(destination)).toBe(true);
      expect(run.stdout).toMatch(/^usage\s+complete\s+[\d,]+/m);
      expect(run.stdout).toContain("SELECT CAST(bucket AT TIME ZONE 'UTC' AS DATE) AS day, endpoint_id");
      // The query's result: a header and rows of the last days with fal endpoints.
      expect(run.stdout).toMatch(/^day\s+endpoint_id\s+quantity\s+cost_usd$/m);
      expect(run.stdout).toMatch(/^2026-11-25\s+fal-ai\//m);
      expect(run.stdout).toContain('FAL_ADMIN_KEY=');
    });
  });

  describe('when they run sync without a config file or FAL_ADMIN_KEY', () => {
    it('then it fails with one line that says which variable to set', async () => {
      const run = await runSync(['--destination', join(dir, 'nokey.duckdb')], { env: cliEnv() });
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain('set FAL_ADMIN_KEY=');
      expect(run.stderr).toContain('--demo');
      expect(existsSync(join(dir, 'nokey.duckdb'))).toBe(false);
    });
  });
});

describe('given a fal account in the emulator', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...cliEnv(),
    FAL_ADMIN_KEY: ADMIN_KEY,
    FAL_BASE_URL: emu.url,
    FAL_START_DATE: '2026-11-15',
    ...extra,
  });

  describe('when the config comes only from FAL_* variables and the destination from SOURCE_FAL_DESTINATION', () => {
    it('then sync needs no file and loads every stream the key can read', async () => {
      const destination = join(dir, 'env.duckdb');
      const run = await runSync([], {
        env: env({ SOURCE_FAL_DESTINATION: `duckdb://${destination}`, FAL_LOOKBACK_DAYS: '1' }),
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^usage\s+complete/m);
      const rows = await duckdbWarehouse(dir).query(
        destination,
        `SELECT CAST(min(bucket) AS TEXT) AS first FROM fal.usage`,
      );
      expect(rows[0]?.first).toMatch(/^2026-11-15/);
    });
  });

  describe('when FAL_LOOKBACK_DAYS is not a number', () => {
    it('then the config error names the field and exits 1', async () => {
      const run = await runSync(['--destination', join(dir, 'badenv.duckdb')], {
        env: env({ FAL_LOOKBACK_DAYS: 'three' }),
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/lookback_days must be a whole number/);
    });
  });

  describe('when --destination is not a DuckDB path or a PostgreSQL URL', () => {
    it('then it exits 2 with the forms it accepts', async () => {
      const run = await runSync(['--destination', 'mysql://root@localhost/fal'], { env: env() });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('scheme "mysql:" is not supported');
      expect(run.stderr).toContain('postgres://');
    });
  });

  describe('when --streams names a stream that does not exist', () => {
    it('then it exits 2 and lists the known streams', async () => {
      const run = await runSync(['--streams', 'usage,nope', '--destination', join(dir, 'nope.duckdb')], { env: env() });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/unknown stream nope \(known streams: usage/);
    });
  });

  describe('when another process holds the DuckDB file open', () => {
    it('then sync fails with one line naming the lock and the fix, and the API key appears nowhere', async () => {
      const destination = join(dir, 'locked.duckdb');
      const holder = await DuckDBInstance.create(destination);
      const connection = await holder.connect();
      try {
        const run = await runSync(['--destination', destination], { env: env() });
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/The DuckDB file .*locked\.duckdb is locked by another process .*PID \d+/);
        expect(run.stderr + run.stdout).not.toContain(ADMIN_KEY.split(':')[1] ?? ADMIN_KEY);
      } finally {
        connection.closeSync();
        holder.closeSync();
      }
    });
  });

  describe('when sync runs with --full-refresh after an incremental sync', () => {
    it('then it reads from start_date again, upserting: no duplicates, every row an update', async () => {
      const destination = join(dir, 'refresh.duckdb');
      const first = await runSync(['--destination', destination, '--streams', 'usage'], { env: env() });
      expect(first.code, first.stderr).toBe(0);
      const refresh = await runSync(['--destination', destination, '--streams', 'usage', '--full-refresh'], {
        env: env(),
      });
      expect(refresh.code, refresh.stderr).toBe(0);
      expect(refresh.stderr).toContain('full refresh from 2026-11-15');
      const line = /^usage\s+complete\s+([\d,]+)\s+([\d,]+)\s/m.exec(refresh.stdout);
      expect(line?.[1]).toBe('0');
      const [counts] = await duckdbWarehouse(dir).query(
        destination,
        `SELECT CAST(count(*) AS TEXT) AS n, CAST(count(DISTINCT id) AS TEXT) AS d FROM fal.usage`,
      );
      expect(counts?.n).toBe(counts?.d);
      expect(line?.[2]?.replace(/,/g, '')).toBe(counts?.n);
    });
  });
});
