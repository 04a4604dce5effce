/**
 * SOURCE_FAL_DUCKDB_MEMORY_LIMIT: DuckDB's memory_limit for sync. A bad value is refused naming it; a limit the
 * primary-key index does not fit in fails with the fix in the message and leaves every committed window; a
 * sufficient limit loads the same rows as no limit.
 */
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { tempDir } from './helpers/cli.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { duckdbWarehouse, runSync } from './helpers/sync.js';

describe('given a DuckDB destination and SOURCE_FAL_DUCKDB_MEMORY_LIMIT', () => {
  let emu: Emulator;
  const dir = tempDir('source-fal-duckmem-');
  const wh = duckdbWarehouse(dir);
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const sync = (file: string, limit: string) =>
    runSync(['--destination', join(dir, file), '--streams', 'usage,billing_events'], {
      env: {
        ...cliEnv(),
        FAL_ADMIN_KEY: ADMIN_KEY,
        FAL_BASE_URL: emu.url,
        FAL_START_DATE: '2026-11-10',
        SOURCE_FAL_DUCKDB_MEMORY_LIMIT: limit,
      },
      timeoutMs: 120_000,
    });

  it('when it is not a size then sync refuses before reading, naming the variable and the form', async () => {
    const run = await sync('bad.duckdb', 'lots');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/SOURCE_FAL_DUCKDB_MEMORY_LIMIT="lots" is not a size: write e\.g\. 512MB or 2GB/);
  });

  it('when it is too small for the tables then the stream fails saying to raise it, and later runs resume', async () => {
    const run = await sync('small.duckdb', '1MB');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ran out of memory.*Raise SOURCE_FAL_DUCKDB_MEMORY_LIMIT/);
    const again = await sync('small.duckdb', '256MB');
    expect(again.code, again.stderr).toBe(0);
  }, 240_000);

  it('when it is large enough then sync loads exactly what an unlimited sync loads', async () => {
    const limited = await sync('limited.duckdb', '256MB');
    const free = await sync('free.duckdb', '');
    expect([limited.code, free.code]).toEqual([0, 0]);
    const totals = async (file: string) =>
      wh.query(join(dir, file), 'SELECT count(*) AS n, sum(cost_estimate_nano_usd) AS nano FROM fal.billing_events');
    expect(await totals('limited.duckdb')).toEqual(await totals('free.duckdb'));
  }, 240_000);
});
