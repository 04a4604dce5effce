/**
 * The embedded DuckDB destination (the default): one database file, schema `fal`, one table per stream.
 * Rows are staged with DuckDB's appender into a temporary table (text cells; temporary tables are never written to
 * the file), then cast and moved into the stream's table together with the state row, in one transaction.
 *
 * A window of new keys (a backfill, or the new part of an incremental run) is inserted as it is: the primary-key
 * index refuses a key the table already has, and then the window is merged by key instead (counted against the
 * table, deduplicated, upserted). Asking the table first would scan its whole key column for every window.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { type DuckDBAppender, type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

import type { ViewSql } from '../analytics/views.js';
import type { Logger } from '../log.js';
import type { RawStreamStates } from '../state.js';
import { type Cell, quoteIdent, sameSqlType, STATE_TABLE, type TablePlan } from './columns.js';
import {
  type CommitResult,
  type Destination,
  DestinationConfigError,
  DestinationError,
  type Namespace,
  parseSavedState,
  SCHEMA,
} from './destination.js';
import {
  ACCOUNT_ROW,
  claimAccount,
  ensureTable,
  mergePlan,
  type MergeSql,
  mergeWindow,
  replaceViews,
  saveWindowState,
  type SqlDialect,
  type SqlRunner,
  stagingColumnsDdl,
  stagingName,
  stateTableDdl,
} from './sql.js';

/**
 * How this connection loads (session settings, nothing is stored in the file). Measured with 1,035,920 billing
 * events on 2 cores (bench/run.ts):
 * - One DuckDB thread fewer than the machine has cores: Node parses the next pages on the main thread while DuckDB
 *   merges, and a second DuckDB thread only fought it for the core (merge CPU 25.1 s → 20.8 s, wall unchanged).
 * - A WAL of up to 256 MB before DuckDB checkpoints (default 16 MB, https://duckdb.org/docs/stable/configuration/overview):
 *   at 16 MB every few windows rewrote the growing primary-key index, and COMMIT took 9.5 s of a 28 s sync; with
 *   256 MB it took 2.8 s. Committed windows are in the WAL either way, which DuckDB replays on the next open.
 */
const LOAD_SETTINGS = [
  `SET threads = ${Math.max(1, availableParallelism() - 1)}`,
  `SET checkpoint_threshold = '256MB'`,
];

/**
 * `SOURCE_FAL_DUCKDB_MEMORY_LIMIT` (e.g. `2GB`): DuckDB's memory_limit for the sync. Unset, DuckDB takes up to 80% of
 * the machine's RAM. The primary-key index of a table must fit in it (it is not spilled to disk): roughly 100 bytes
 * per billing event, so a limit below that fails the sync with an out-of-memory error (docs/performance.md).
 */
export function parseMemoryLimit(text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = text.trim();
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(value))
    throw new DestinationConfigError(
      `SOURCE_FAL_DUCKDB_MEMORY_LIMIT=${JSON.stringify(text)} is not a size: write e.g. 512MB or 2GB (or unset it to let DuckDB use up to 80% of RAM).`,
    );
  return value;
}

export async function openDuckDb(
  path: string,
  log: Logger,
  schema = SCHEMA,
  memoryLimit?: string,
): Promise<DuckDbDestination> {
  const shown = path === ':memory:' ? 'an in-memory DuckDB database' : resolve(path);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path);
  } catch (error) {
    throw duckOpenError(shown, error);
  }
  const connection = await instance.connect();
  // DuckDB names the database (catalog) after the file; see Namespace for why that decides the schema.
  const catalog = String(
    (await connection.runAndReadAll('SELECT current_database() AS db')).getRowObjectsJson()[0]?.db ?? 'memory',
  );
  const tables = catalog.toLowerCase() === schema ? 'main' : schema;
  const namespace: Namespace = {
    name: schema,
    sql: `${quoteIdent(catalog)}.${quoteIdent(tables)}`,
    create: tables !== 'main',
  };
  const destination = new DuckDbDestination(instance, connection, shown, log, namespace, catalog, tables);
  // Timestamps are written and shown in UTC whatever the machine's zone (ICU is built into the DuckDB bindings).
  await destination.exec(`SET TimeZone = 'UTC'`).catch(() => undefined);
  for (const setting of LOAD_SETTINGS) await destination.exec(setting);
  if (memoryLimit !== undefined) await destination.exec(`SET memory_limit = '${memoryLimit}'`);
  return destination;
}

function duckOpenError(shown: string, error: unknown): DestinationError {
  const message = error instanceof Error ? error.message : String(error);
  const lock = /Could not set lock on file[^:]*: Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(message);
  if (lock || /lock/i.test(message)) {
    return new DestinationError(
      'duckdb_locked',
      `The DuckDB file ${shown} is locked by another process${lock ? ` (${lock[1]}, PID ${lock[2]})` : ''}: another sync or a DuckDB client has it open. Close that program or wait for it to finish, then run sync again (or pass another --destination).`,
      { cause: error },
    );
  }
  if (/No such file or directory|cannot open file|Cannot open file/i.test(message)) {
    return new DestinationError(
      'duckdb_unreachable',
      `Cannot create the DuckDB file ${shown}: ${firstLine(message)}. Check that its folder exists and is writable, or pass --destination with a path in a writable folder (in the source-fal Docker image: mount one at /data, docker run -v "$PWD/fal-data:/data" …).`,
      { cause: error },
    );
  }
  return new DestinationError(
    'duckdb_open_failed',
    `Cannot open the DuckDB file ${shown}: ${firstLine(message)}. Is it a DuckDB database written by DuckDB 1.x? Pass another --destination otherwise.`,
    {
      cause: error,
    },
  );
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? text).trim();
}

/** DuckDB's SQL for the shared merge, DDL and state code (sql.ts). */
export const DUCKDB_SQL: SqlDialect = {
  name: 'duckdb',
  types: {
    text: 'VARCHAR',
    decimal: 'DECIMAL(38,9)',
    bigint: 'BIGINT',
    boolean: 'BOOLEAN',
    timestamptz: 'TIMESTAMPTZ',
    date: 'DATE',
    json: 'JSON',
  },
  tempSchema: 'temp.main',
  beginTransaction: 'BEGIN TRANSACTION',
  clearStaging: (staging) => `DELETE FROM ${staging}`,
  /**
   * DuckDB casts VARCHAR to DECIMAL(38,9) very slowly once the text has an integer part (docs/performance.md), so
   * amounts go through DECIMAL(18,9) (same rounding, widened exactly) and only those that do not fit it
   * (|amount| ≥ 10^9 USD) take the direct cast.
   */
  cast(column, type) {
    if (sameSqlType(type, 'DECIMAL(38,9)'))
      return `coalesce(CAST(TRY_CAST(${column} AS DECIMAL(18,9)) AS DECIMAL(38,9)), CAST(${column} AS DECIMAL(38,9)))`;
    return `CAST(${column} AS ${type})`;
  },
  lastPerKey: (typed, keys) =>
    `SELECT * EXCLUDE ("_seq") FROM (${typed}) QUALIFY row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY "_seq" DESC) = 1`,
  epochMsText: (expr) => `CAST(epoch_ms(${expr}) AS VARCHAR)`,
  // One read-write connection per database file.
  singleWriter: true,
};

export class DuckDbDestination implements Destination, SqlRunner {
  readonly dialect = 'duckdb' as const;
  readonly sqlDialect = DUCKDB_SQL;
  readonly description: string;
  private readonly staged: StagingAppender;
  private inTransaction = false;
  /** The plan whose staging table holds rows of the current window. */
  private staging: TablePlan | undefined;
  private readonly merges = new Map<string, MergeSql>();

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly shown: string,
    private readonly log: Logger,
    readonly namespace: Namespace,
    private readonly catalog: string,
    private readonly tableSchema: string,
  ) {
    this.description = `DuckDB ${shown}`;
    this.staged = new StagingAppender(connection, (error, what) => this.wrap(error, what), 'duckdb_error');
  }

  async exec(sql: string, values?: (string | null)[]): Promise<void> {
    try {
      await this.connection.run(sql, values);
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  async rows(sql: string, values?: (string | null)[]): Promise<Record<string, unknown>[]> {
    try {
      const reader = await this.connection.runAndReadAll(sql, values);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  private wrap(error: unknown, sql: string): DestinationError {
    if (error instanceof DestinationError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (/Out of Memory Error|failed to pin block/i.test(message)) {
      return new DestinationError(
        'duckdb_out_of_memory',
        `DuckDB (${this.shown}) ran out of memory: ${firstLine(message)}. The window was rolled back. Raise SOURCE_FAL_DUCKDB_MEMORY_LIMIT (each table's primary-key index must fit in it, about 100 bytes a row) or unset it, then run sync again: it resumes from the last committed window.`,
        { cause: error },
      );
    }
    return new DestinationError(
      'duckdb_error',
      `DuckDB (${this.shown}) failed: ${firstLine(message)} [while running: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`,
      { cause: error },
    );
  }

  async existingColumns(table: string): Promise<Map<string, string>> {
    const rows = await this.rows(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = $1 AND table_schema = $2 AND table_name = $3 ORDER BY ordinal_position`,
      [this.catalog, this.tableSchema, table],
    );
    return new Map(rows.map((row) => [String(row.column_name), String(row.data_type)]));
  }

  async prepare(plans: readonly TablePlan[]): Promise<void> {
    if (this.namespace.create) await this.exec(`CREATE SCHEMA IF NOT EXISTS ${this.namespace.sql}`);
    await this.exec(stateTableDdl(DUCKDB_SQL, this.namespace));
    for (const plan of plans) {
      const castTypes = await ensureTable(this, plan, this.log);
      this.merges.set(plan.stream, mergePlan(DUCKDB_SQL, plan, castTypes, this.namespace));
      await this.exec(
        `CREATE OR REPLACE TEMP TABLE ${quoteIdent(stagingName(plan))} (${stagingColumnsDdl(DUCKDB_SQL, plan)})`,
      );
    }
  }

  async claimAccount(username: string): Promise<void> {
    await claimAccount(this, username, this.description);
  }

  async readStates(): Promise<RawStreamStates> {
    const states: RawStreamStates = new Map();
    for (const row of await this.rows(
      `SELECT stream, CAST(state AS VARCHAR) AS state FROM ${this.namespace.sql}.${quoteIdent(STATE_TABLE)}`,
    )) {
      if (String(row.stream) === ACCOUNT_ROW) continue;
      states.set(String(row.stream), parseSavedState(String(row.stream), String(row.state), this.namespace.name));
    }
    return states;
  }

  async begin(plan: TablePlan): Promise<void> {
    // Staging is outside the window's transaction (so a refused insert can fall back to merging the same rows);
    // rollback() empties it.
    this.staging = plan;
    await this.staged.open(stagingName(plan));
  }

  async append(_plan: TablePlan, rows: readonly Cell[][]): Promise<void> {
    this.staged.append(rows);
  }

  async commit(plan: TablePlan, state: Record<string, unknown>): Promise<CommitResult> {
    const sql = this.merges.get(plan.stream);
    if (!sql)
      throw new DestinationError(
        'duckdb_error',
        `No table prepared for stream ${plan.stream}; this is a bug in source-fal.`,
      );
    this.staged.flush();
    let result: CommitResult | undefined;
    if (plan.kind === 'incremental') {
      const [staged] = await this.rows(sql.stagedStats);
      if (staged !== undefined && Number(staged.staged) === Number(staged.total)) {
        await this.transaction();
        if (await this.insertAll(sql)) {
          await saveWindowState(this, sql, plan.stream, state);
          result = sql.result({ ...staged, inserted: staged.total });
        }
      }
    }
    if (result === undefined) {
      await this.transaction();
      result = await mergeWindow(this, sql, plan.stream, state);
    }
    await this.exec('COMMIT');
    this.inTransaction = false;
    this.staging = undefined;
    return result;
  }

  private async transaction(): Promise<void> {
    await this.exec('BEGIN TRANSACTION');
    this.inTransaction = true;
  }

  /** Inserts the staged rows as they are; false (and the transaction rolled back) when a key is already there. */
  private async insertAll(sql: MergeSql): Promise<boolean> {
    try {
      await this.connection.run(sql.insertAll);
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // DuckDB 1.5: `Duplicate key "k: v" violates primary key constraint` (key in the table) or
      // `PRIMARY KEY or UNIQUE constraint violation: duplicate key "v"`.
      if (!/^Constraint Error:.*duplicate key/i.test(message)) throw this.wrap(error, sql.insertAll);
      this.inTransaction = false;
      await this.exec('ROLLBACK');
      return false;
    }
  }

  async rollback(): Promise<void> {
    this.staged.discard();
    if (this.inTransaction) {
      this.inTransaction = false;
      await this.exec('ROLLBACK');
    }
    const staging = this.staging;
    this.staging = undefined;
    const clear = staging === undefined ? undefined : this.merges.get(staging.stream)?.clearStaging;
    if (clear !== undefined) await this.exec(clear);
  }

  async replaceViews(views: readonly ViewSql[]): Promise<void> {
    await replaceViews(this, views);
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    return this.rows(sql);
  }

  async close(): Promise<void> {
    await this.rollback().catch(() => undefined);
    // Write the WAL into the file now, with every core (nothing else runs any more), rather than in closeSync on the
    // main thread: 3.2 s → 1.9 s for 1M billing events. A failure only leaves it to DuckDB's next open.
    await this.exec(`SET threads = ${availableParallelism()}`).catch(() => undefined);
    await this.exec('CHECKPOINT').catch(() => undefined);
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * A window's rows staged in a temporary table through DuckDB's appender: an order number, then every cell as text
 * (NULL for null). The DuckDB and Parquet destinations stage the same way.
 */
export class StagingAppender {
  private appender: DuckDBAppender | undefined;
  private seq = 0;

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly wrap: (error: unknown, what: string) => DestinationError,
    private readonly code: string,
  ) {}

  async open(table: string): Promise<void> {
    this.seq = 0;
    try {
      this.appender = await this.connection.createAppender(table, 'main', 'temp');
    } catch (error) {
      throw this.wrap(error, `appender on ${table}`);
    }
  }

  append(rows: readonly Cell[][]): void {
    const appender = this.appender;
    if (!appender)
      throw new DestinationError(this.code, 'append called outside a window; this is a bug in source-fal.');
    try {
      for (const row of rows) {
        appender.appendInteger(this.seq++);
        for (const cell of row) {
          if (cell === null) appender.appendNull();
          else appender.appendVarchar(cell);
        }
        appender.endRow();
      }
    } catch (error) {
      throw this.wrap(error, 'appender');
    }
  }

  /** Hands every appended row to the table; the window can then be merged. */
  flush(): void {
    try {
      this.appender?.flushSync();
      this.appender?.closeSync();
    } catch (error) {
      throw this.wrap(error, 'appender flush');
    } finally {
      this.appender = undefined;
    }
  }

  /** The window is being thrown away; a failing appender changes nothing. */
  discard(): void {
    try {
      this.appender?.closeSync();
    } catch {
      // nothing to keep
    }
    this.appender = undefined;
  }
}
