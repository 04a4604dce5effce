/**
 * The whole-connector `sync` scenarios every warehouse must pass (sync.duckdb.test.ts, sync.postgres.test.ts):
 * typed columns, per-day totals equal to the emulator's truth, a second sync that updates and never duplicates,
 * a sync SIGKILLed inside a window that lands no part of that window and, run again, equals the truth, and a chain of
 * SIGKILLs at different moments (right after a request, when the previous window may still be committing) ending in
 * exactly the truth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../../source-fal/emulator/server.js';
import { tempDir, writeJson } from './cli.js';
import { cliEnv, configFor, FIXED_NOW } from './fixtures.js';
import { decimalToNano, runSync, type SyncResult, type SyncRunOptions, type TestWarehouse } from './sync.js';

const ACCOUNT = 'acme-ml';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);
const startDate = new Date(now - 120 * DAY).toISOString().slice(0, 10);
const startMs = Date.parse(`${startDate}T00:00:00Z`);

const sorted = (m: Map<string, bigint>): [string, string][] =>
  [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.toString()]);

/** Per UTC day: the BIGINT nano column's sum, after checking that the DECIMAL column sums to exactly the same amount. */
async function warehouseNanoByDay(wh: TestWarehouse, destination: string): Promise<Map<string, bigint>> {
  const rows = await wh.query(
    destination,
    `SELECT CAST(CAST(bucket AT TIME ZONE 'UTC' AS DATE) AS TEXT) AS day, CAST(SUM(cost_total_nano_usd) AS TEXT) AS nano, CAST(SUM(cost_total) AS TEXT) AS usd FROM fal.usage GROUP BY 1`,
  );
  const days = new Map<string, bigint>();
  for (const row of rows) {
    const nano = BigInt(row.nano ?? '0');
    expect(decimalToNano(row.usd ?? '0'), `DECIMAL cost_total of ${row.day} sums exactly to the nano column`).toBe(
      nano,
    );
    days.set(String(row.day), nano);
  }
  return days;
}

async function duplicateKeys(wh: TestWarehouse, destination: string): Promise<number> {
  const [row] = await wh.query(destination, `SELECT CAST(count(*) - count(DISTINCT id) AS TEXT) AS dup FROM fal.usage`);
  return Number(row?.dup);
}

async function savedState(
  wh: TestWarehouse,
  destination: string,
  stream = 'usage',
): Promise<Record<string, unknown> | undefined> {
  const [row] = await wh.query(
    destination,
    `SELECT CAST(state AS TEXT) AS state FROM fal._source_fal_state WHERE stream = '${stream}'`,
  );
  return row?.state ? (JSON.parse(row.state) as Record<string, unknown>) : undefined;
}

/**
 * `options.stateTable`: false for a destination that keeps its state outside the warehouse (Parquet's state file).
 * Known when the tests are collected, before the warehouse exists (PostgreSQL starts in a beforeAll).
 */
export function syncScenarios(warehouse: () => TestWarehouse, options: { stateTable?: boolean } = {}): void {
  describe('given 120 days of usage in the fal emulator', () => {
    let emu: Emulator;
    let dir: string;

    beforeAll(async () => {
      emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
      dir = tempDir('source-fal-sync-');
    });
    afterAll(async () => {
      await emu.close();
    });

    const sync = (
      destination: string,
      clock: string = FIXED_NOW,
      options: Omit<SyncRunOptions, 'env'> = {},
    ): Promise<SyncResult> =>
      runSync(
        [
          '--config',
          writeJson(dir, 'config.json', configFor(emu.url, { start_date: startDate })),
          '--destination',
          destination,
          '--streams',
          'usage',
        ],
        {
          env: cliEnv(clock),
          ...options,
        },
      );
    const truth = (asOf: string): Map<string, bigint> =>
      emu.truth.usageNanoByDay(ACCOUNT, new Date(startMs), new Date(asOf), new Date(asOf));

    describe('when sync loads usage into a new warehouse', () => {
      let destination: string;
      let run: SyncResult;
      beforeAll(async () => {
        destination = await warehouse().fresh('first');
        run = await sync(destination);
      });

      it('then it exits 0 and prints a plain-text summary per stream, no protocol JSON', () => {
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toMatch(/^usage\s+complete\s+[\d,]+\s+0\s/m);
        expect(run.stdout).not.toMatch(/^\{/m);
        expect(run.stderr).toMatch(/usage done: [\d,]+ rows/);
      });

      it('then money is DECIMAL(38,9), integers BIGINT, timestamps TIMESTAMPTZ, objects JSON, and no column is a float', async () => {
        const types = await warehouse().columnTypes(destination);
        const decimal = /^(DECIMAL|numeric)\(38,9\)$/i;
        const timestamptz = /^timestamp with time zone$/i;
        for (const column of [
          'cost_total',
          'cost_subtotal',
          'cost_discount',
          'unit_price',
          'quantity',
          'percent_discount',
        ])
          expect(types.get(`usage.${column}`), column).toMatch(decimal);
        expect(types.get('usage.cost_total_nano_usd')).toMatch(/^bigint$/i);
        expect(types.get('usage.bucket')).toMatch(timestamptz);
        expect(types.get('usage._synced_at')).toMatch(timestamptz);
        expect(types.get('usage._extra')).toMatch(warehouse().jsonType ?? /^jsonb?$/i);
        expect(types.get('usage.id')).toMatch(/^(VARCHAR|text)$/i);
        expect(types.get('_source_fal_state.state')).toMatch(/^jsonb?$/i);
        for (const [column, type] of types) expect(`${column} ${type}`).not.toMatch(/double|float|real/i);
      });

      it('then every UTC day equals the emulator to the nano-dollar, in the DECIMAL and the BIGINT column alike', async () => {
        const days = await warehouseNanoByDay(warehouse(), destination);
        expect(days.size).toBeGreaterThanOrEqual(120);
        expect(sorted(days)).toEqual(sorted(truth(FIXED_NOW)));
      });

      it('then the state row is the start of the still-open UTC day and every row has _synced_at', async () => {
        expect(await savedState(warehouse(), destination)).toEqual({ bucket: '2026-11-25T00:00:00Z' });
        const [row] = await warehouse().query(
          destination,
          `SELECT CAST(count(*) AS TEXT) AS missing FROM fal.usage WHERE _synced_at IS NULL`,
        );
        expect(row?.missing).toBe('0');
      });

      it('then the API key appears in no output, log or table', async () => {
        const secret = ADMIN_KEY.slice(ADMIN_KEY.indexOf(':') + 1);
        expect(run.stdout + run.stderr).not.toContain(secret);
        const [row] = await warehouse().query(
          destination,
          `SELECT CAST(count(*) AS TEXT) AS n FROM fal.usage WHERE CAST(_extra AS TEXT) LIKE '%${secret}%' OR api_key_id LIKE '%${secret}%'`,
        );
        expect(row?.n).toBe('0');
        const [state] = await warehouse().query(
          destination,
          `SELECT CAST(count(*) AS TEXT) AS n FROM fal._source_fal_state WHERE CAST(state AS TEXT) LIKE '%${secret}%'`,
        );
        expect(state?.n).toBe('0');
      });

      describe('and then the clock moves on two days and sync runs again', () => {
        let second: SyncResult;
        const later = new Date(now + 2 * DAY).toISOString();
        beforeAll(async () => {
          emu.setNow(later);
          second = await sync(destination, later);
        });
        afterAll(() => {
          emu.setNow(FIXED_NOW);
        });

        it('then the lookback rows are updates, not duplicates', async () => {
          expect(second.code, second.stderr).toBe(0);
          expect(await duplicateKeys(warehouse(), destination)).toBe(0);
          const line = /^usage\s+complete\s+([\d,]+)\s+([\d,]+)\s/m.exec(second.stdout);
          expect(Number(line?.[2]?.replace(/,/g, ''))).toBeGreaterThan(0);
        });

        it('then every UTC day equals the emulator as of the new clock, late rows included', async () => {
          expect(sorted(await warehouseNanoByDay(warehouse(), destination))).toEqual(sorted(truth(later)));
        });

        it('then the saved state moved to the new open day', async () => {
          expect(await savedState(warehouse(), destination)).toEqual({ bucket: '2026-11-27T00:00:00Z' });
        });
      });
    });

    describe('when sync is SIGKILLed again and again at different moments, each time run again', () => {
      it('then each run resumes from the committed state, which never moves back, and the last equals the emulator with no duplicate key', async () => {
        // A window commits while the next one is fetched, so a kill right after a request often lands while a commit is
        // in flight: the window it commits must land whole with its state, or not at all.
        const destination = await warehouse().fresh('killed-chain');
        const usageRequests = (): number => emu.requests.filter((r) => r.path === '/v1/models/usage').length;
        let killed = 0;
        let cursor = -Infinity;
        for (const after of [3, 5, 8, 4, 11, 6]) {
          const before = usageRequests();
          const run = await sync(destination, FIXED_NOW, { killWhen: () => usageRequests() - before >= after });
          if (run.signal !== 'SIGKILL') {
            expect(run.code, run.stderr).toBe(0);
            break;
          }
          killed++;
          const state = await savedState(warehouse(), destination);
          if (state === undefined) continue;
          const saved = Date.parse(String(state.bucket));
          expect(saved, 'the saved state never moves back').toBeGreaterThanOrEqual(cursor);
          cursor = saved;
          // Only whole windows land: every row is before the saved cursor.
          const [row] = await warehouse().query(destination, `SELECT CAST(max(bucket) AS TEXT) AS b FROM fal.usage`);
          if (warehouse().windowAtomic !== false)
            expect(Date.parse(`${String(row?.b).slice(0, 10)}T00:00:00Z`)).toBeLessThan(saved);
        }
        const last = await sync(destination);
        expect(last.code, last.stderr).toBe(0);
        expect(killed, 'runs killed before one completed').toBeGreaterThanOrEqual(3);
        expect(await duplicateKeys(warehouse(), destination)).toBe(0);
        expect(sorted(await warehouseNanoByDay(warehouse(), destination))).toEqual(sorted(truth(FIXED_NOW)));
      });
    });

    describe.skipIf(options.stateTable === false)(
      "when the saved state row's cursor was edited by hand into something that is not a timestamp",
      () => {
        it('then sync reads nothing, exits 1, and the message names the state table, the destination and the fix', async () => {
          const destination = await warehouse().fresh('bad-state');
          expect((await sync(destination)).code).toBe(0);
          const json = warehouse().dialect === 'duckdb' ? 'JSON' : 'JSONB';
          await warehouse().query(
            destination,
            `UPDATE fal._source_fal_state SET state = CAST('{"bucket": "yesterday"}' AS ${json}) WHERE stream = 'usage'`,
          );
          const before = emu.requests.length;
          const result = await sync(destination);
          expect(result.code).toBe(1);
          expect(result.stderr).toMatch(
            /The state of stream usage in fal\._source_fal_state \((DuckDB|PostgreSQL) [^)]*\) has bucket = "yesterday", which is not an RFC 3339 timestamp/,
          );
          expect(result.stderr).toMatch(
            /Correct that stream's row in fal\._source_fal_state, or delete it to read the stream again from start_date\./,
          );
          expect(result.stderr).not.toMatch(/state file/);
          // Only the account check (whose account these tables hold) asks fal anything; no data is read.
          expect(
            emu.requests.slice(before).map((r) => r.path),
            'requests to fal',
          ).toEqual(['/v1/account/billing']);
        });
      },
    );

    describe('when a sync is SIGKILLed inside a window and then run again', () => {
      let destination: string;
      let killed: SyncResult;
      let rerun: SyncResult;
      let stateAfterKill: Record<string, unknown> | undefined;
      let maxBucketAfterKill: string | null | undefined;
      let daysAfterKill: Map<string, bigint>;

      beforeAll(async () => {
        destination = await warehouse().fresh('killed');
        emu.requests.length = 0;
        // Every usage page answers late, so when a follow-up page of a window is requested the child is surely
        // waiting inside that window, with its first page staged and not committed.
        emu.faults.add({ path: '/models/usage', kind: 'latency', ms: 50, times: Infinity });
        const usageRequests = () => emu.requests.filter((r) => r.path === '/v1/models/usage');
        killed = await sync(destination, FIXED_NOW, {
          killWhen: () => {
            const requests = usageRequests();
            return requests.length >= 15 && requests.at(-1)?.query.cursor !== undefined;
          },
        });
        emu.faults.clear();
        stateAfterKill = await savedState(warehouse(), destination);
        maxBucketAfterKill = (
          await warehouse().query(destination, `SELECT CAST(max(bucket) AS TEXT) AS b FROM fal.usage`)
        )[0]?.b;
        daysAfterKill = await warehouseNanoByDay(warehouse(), destination);
        rerun = await sync(destination);
      });

      it('then the killed run had committed some windows and none of the window it was in', () => {
        expect(killed.signal).toBe('SIGKILL');
        const cursor = Date.parse(String(stateAfterKill?.bucket));
        expect(cursor).toBeGreaterThan(startMs);
        expect(cursor).toBeLessThan(Date.parse('2026-11-25T00:00:00Z'));
        // Windows are consecutive from start_date: every committed row is before the saved cursor, and the window
        // being read when the process died (it starts at the cursor) left nothing behind.
        expect(Date.parse(`${String(maxBucketAfterKill).slice(0, 10)}T00:00:00Z`)).toBeLessThan(cursor);
        const expected = new Map([...truth(FIXED_NOW)].filter(([day]) => Date.parse(`${day}T00:00:00Z`) < cursor));
        expect(sorted(daysAfterKill)).toEqual(sorted(expected));
      });

      it('then the rerun resumes from the saved state and the warehouse equals the emulator, with no duplicate key', async () => {
        expect(rerun.code, rerun.stderr).toBe(0);
        expect(rerun.stderr).toMatch(/resuming usage from the saved state/);
        expect(await duplicateKeys(warehouse(), destination)).toBe(0);
        expect(sorted(await warehouseNanoByDay(warehouse(), destination))).toEqual(sorted(truth(FIXED_NOW)));
      });
    });
  });
}
