/**
 * `source-fal sync --destination parquet://<dir>` end to end against the fal emulator: the shared warehouse
 * scenarios read through DuckDB's read_parquet(…, hive_partitioning = true), then what BigQuery and Snowflake rely
 * on: the physical Parquet types, one schema for every partition, and partitions that a SIGKILL leaves old or new.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { tempDir, writeJson } from './helpers/cli.js';
import { cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';
import { parquetWarehouse, runSync } from './helpers/sync.js';
import { syncScenarios } from './helpers/sync-scenarios.js';

const dir = tempDir('source-fal-parquet-');
const warehouse = parquetWarehouse(dir);
syncScenarios(() => warehouse, { stateTable: false });

const DAY = 86_400_000;
const ACCOUNT = 'acme-ml';
const now = Date.parse(FIXED_NOW);
const startDate = new Date(now - 40 * DAY).toISOString().slice(0, 10);
const startMs = Date.parse(`${startDate}T00:00:00Z`);
const later = new Date(now + 2 * DAY).toISOString();

/** Every Parquet file under `folder`, relative to it. */
const parquetFiles = (folder: string): string[] =>
  readdirSync(folder, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.parquet'))
    .sort();

describe('given 40 days of usage in the fal emulator and a Parquet directory', () => {
  let emu: Emulator;
  let config: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 50 });
    config = writeJson(dir, 'p-config.json', configFor(emu.url, { start_date: startDate, lookback_days: 3 }));
  });
  afterAll(async () => {
    await emu.close();
  });
  const sync = (target: string, clock = FIXED_NOW, killWhen?: () => boolean) =>
    runSync(['--config', config, '--destination', target, '--streams', 'usage,api_keys'], {
      env: cliEnv(clock),
      killWhen,
    });
  const truth = (asOf: string) => emu.truth.usageNanoByDay(ACCOUNT, new Date(startMs), new Date(asOf), new Date(asOf));
  /** Per partition (the `day` folder): the nano total, read straight from the files. */
  const partitionTotals = async (target: string): Promise<Map<string, string>> =>
    new Map(
      (
        await warehouse.query(
          target,
          `SELECT CAST(day AS TEXT) AS day, CAST(sum(cost_total_nano_usd) AS TEXT) AS nano FROM read_parquet('${target.replace('parquet://', '')}/usage/day=*/*.parquet', hive_partitioning = true) GROUP BY 1`,
        )
      ).map((r) => [String(r.day), String(r.nano)]),
    );

  describe('when usage and api_keys are exported', () => {
    let target: string;
    let root: string;
    beforeAll(async () => {
      target = await warehouse.fresh('parquet-layout');
      root = target.replace('parquet://', '');
      const run = await sync(target);
      expect(run.code, run.stderr).toBe(0);
    });

    it('then usage is one file per UTC day folder, api_keys one file, and the state file sits beside them', () => {
      const usage = parquetFiles(join(root, 'usage'));
      expect(usage.length).toBeGreaterThanOrEqual(40);
      for (const file of usage) expect(file).toMatch(/^day=\d{4}-\d{2}-\d{2}\/data\.parquet$/);
      expect(parquetFiles(join(root, 'api_keys'))).toEqual(['data.parquet']);
      expect(existsSync(join(root, '_source_fal_state.json'))).toBe(true);
      expect(existsSync(join(root, '.staging'))).toBe(false);
    });

    it('then the Parquet types are DECIMAL(38,9), INT64, UTC-adjusted timestamps and JSON as text, the same in every partition', async () => {
      const rows = await warehouse.query(
        target,
        `SELECT file_name, name, type, logical_type, converted_type, precision, scale FROM parquet_schema('${root}/usage/day=*/*.parquet') WHERE name IN ('cost_total', 'cost_total_nano_usd', 'bucket', '_extra', '_synced_at', 'id')`,
      );
      const byFile = new Map<string, string[]>();
      for (const r of rows)
        byFile.set(String(r.file_name), [
          ...(byFile.get(String(r.file_name)) ?? []),
          `${r.name} ${r.type} ${r.converted_type} ${r.precision}/${r.scale} ${r.logical_type}`,
        ]);
      const schemas = new Set([...byFile.values()].map((s) => s.sort().join('\n')));
      expect(byFile.size).toBeGreaterThanOrEqual(40);
      expect(schemas.size, 'one Parquet schema for every partition').toBe(1);
      const columns = new Map(rows.filter((r) => r.file_name === rows[0]?.file_name).map((r) => [String(r.name), r]));
      expect(columns.get('cost_total')).toMatchObject({ converted_type: 'DECIMAL', precision: '38', scale: '9' });
      expect(columns.get('cost_total_nano_usd')).toMatchObject({ type: 'INT64' });
      expect(columns.get('bucket')?.logical_type).toMatch(/TimestampType\(isAdjustedToUTC=1/);
      expect(columns.get('_synced_at')?.logical_type).toMatch(/isAdjustedToUTC=1/);
      expect(columns.get('_extra')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
      // Read back with Hive partitioning: the day column comes from the folder and equals the UTC day of bucket.
      const [mismatch] = await warehouse.query(
        target,
        `SELECT CAST(count(*) AS TEXT) AS n FROM read_parquet('${root}/usage/day=*/*.parquet', hive_partitioning = true) WHERE day <> CAST(bucket AS DATE)`,
      );
      expect(mismatch?.n).toBe('0');
    });

    describe('and the clock moves on two days and the export runs again (3 days of lookback)', () => {
      beforeAll(async () => {
        emu.setNow(later);
        const run = await sync(target, later);
        expect(run.code, run.stderr).toBe(0);
      });

      afterAll(() => {
        emu.setNow(FIXED_NOW);
      });

      it('then no primary key is there twice and every day equals the emulator', async () => {
        const [dup] = await warehouse.query(
          target,
          `SELECT CAST(count(*) - count(DISTINCT id) AS TEXT) AS dup FROM fal.usage`,
        );
        expect(dup?.dup).toBe('0');
        const expected = new Map([...truth(later)].map(([day, nano]) => [day, nano.toString()]));
        expect(new Map([...(await partitionTotals(target))].sort())).toEqual(new Map([...expected].sort()));
      });
    });
  });

  describe('when the export of late rows is SIGKILLed at different moments', () => {
    it('then every partition is whole and holds either its old or its new rows, and the last run equals the emulator', async () => {
      const target = await warehouse.fresh('parquet-killed');
      expect((await sync(target)).code).toBe(0);
      const before = await partitionTotals(target);
      emu.setNow(later);
      const after = new Map([...truth(later)].map(([day, nano]) => [day, nano.toString()]));
      const usageRequests = () => emu.requests.filter((r) => r.path === '/v1/models/usage').length;
      emu.faults.add({ path: '/models/usage', kind: 'latency', ms: 20, times: Infinity });
      let kills = 0;
      for (const afterRequests of [1, 2, 3, 5]) {
        const start = usageRequests();
        const run = await sync(target, later, () => usageRequests() - start >= afterRequests);
        if (run.signal === 'SIGKILL') kills++;
        const now = await partitionTotals(target);
        for (const [day, nano] of now)
          expect([before.get(day), after.get(day)], `partition day=${day}`).toContain(nano);
        for (const stream of ['usage', 'api_keys'])
          for (const file of parquetFiles(join(target.replace('parquet://', ''), stream)))
            expect(file).toMatch(/(^|\/)data\.parquet$/);
      }
      emu.faults.clear();
      expect(kills).toBeGreaterThan(0);
      expect((await sync(target, later)).code).toBe(0);
      expect(new Map([...(await partitionTotals(target))].sort())).toEqual(new Map([...after].sort()));
      emu.setNow(FIXED_NOW);
    });
  });
});

describe('given a new user with no fal key', () => {
  it('when they run sync --demo --destination parquet://… then every stream is written as Parquet and the sample query prints', async () => {
    const root = join(dir, 'fal-parquet');
    const run = await runSync(['--demo', '--destination', `parquet://${root}`], { env: cliEnv() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^usage\s+complete\s+[\d,]+/m);
    expect(run.stdout).toMatch(/^day\s+endpoint_id\s+quantity\s+cost_usd$/m);
    expect(parquetFiles(join(root, 'usage')).length).toBeGreaterThan(0);
    expect(parquetFiles(join(root, 'api_keys'))).toEqual(['data.parquet']);
  });
});

describe('given a Parquet directory that holds one fal account', () => {
  it(
    'when a key of another account syncs into it then it is refused before anything is read, naming both accounts',
    { timeout: 120_000 },
    async () => {
      const emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
      try {
        const target = `parquet://${join(dir, 'one-account')}`;
        const first = await runSync(
          [
            '--config',
            writeJson(dir, 'acct-a.json', configFor(emu.url, { start_date: '2026-11-20' })),
            '--destination',
            target,
            '--streams',
            'usage',
          ],
          { env: cliEnv() },
        );
        expect(first.code, first.stderr).toBe(0);
        const other = await runSync(
          [
            '--config',
            writeJson(dir, 'acct-b.json', configFor(emu.url, { start_date: '2026-11-20', api_key: ORG_ADMIN_KEY })),
            '--destination',
            target,
            '--streams',
            'usage',
          ],
          { env: cliEnv() },
        );
        expect(other.code).toBe(1);
        expect(other.stderr).toMatch(/holds fal account "acme-ml", but this key belongs to account "acme"/);
      } finally {
        await emu.close();
      }
    },
  );
});
