/**
 * `--destination parquet://<dir>`: each stream as Parquet files that BigQuery, Snowflake and DuckDB load as they
 * are (README "Parquet export"), written by an embedded in-memory DuckDB.
 *
 * Layout: `<dir>/<stream>/day=YYYY-MM-DD/data.parquet` (Hive partitions by the UTC day of the cursor column) for
 * windowed streams, `<dir>/<stream>/data.parquet` for snapshots, and `<dir>/_source_fal_state.json`.
 *
 * A window's commit rewrites each day partition it touches: the partition's rows merged with the window's by primary
 * key (the window wins) go to a file in `<dir>/.staging/`, which is then renamed over the partition file. A rename
 * is atomic on one file system, so a reader (or a SIGKILL) sees each partition either old or new, never half
 * written or twice. The state file is written the same way after every partition of the window is in place: a run
 * killed in between re-reads the window and merges it again, which changes nothing twice.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

import { isJsonObject } from '../json.js';
import type { RawStreamStates } from '../state.js';
import { type Cell, type Column, EXTRA_COLUMN, quoteIdent, SYNCED_AT_COLUMN, type TablePlan } from './columns.js';
import {
  type CommitResult,
  type Destination,
  DestinationError,
  type Namespace,
  parseSavedState,
  SCHEMA,
} from './destination.js';
import { DUCKDB_SQL, StagingAppender } from './duckdb.js';

export const PARQUET_STATE_FILE = '_source_fal_state.json';
/** Which fal account the directory holds (see Destination.claimAccount). */
const PARQUET_ACCOUNT_FILE = '_source_fal_account.json';
const STAGING_DIR = '.staging';
const FILE = 'data.parquet';

/** The Parquet type of a column: DuckDB's, except JSON, which travels as text (BigQuery and Snowflake parse it). */
function parquetType(column: Pick<Column, 'kind'>): string {
  return column.kind === 'json' ? 'VARCHAR' : DUCKDB_SQL.types[column.kind];
}

/** A window's stream is split into day partitions when it has a timestamp cursor. */
function partitioned(plan: TablePlan): boolean {
  return plan.kind === 'incremental' && plan.cursorColumn !== undefined;
}

/** SQL string literal. */
const lit = (text: string): string => `'${text.replace(/'/g, "''")}'`;

export async function openParquet(dir: string): Promise<ParquetDestination> {
  const root = resolve(dir);
  try {
    mkdirSync(root, { recursive: true });
  } catch (error) {
    throw new DestinationError(
      'parquet_unwritable',
      `Cannot create the Parquet directory ${root}: ${error instanceof Error ? error.message : String(error)}. Check that its parent exists and is writable.`,
      {
        cause: error,
      },
    );
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const destination = new ParquetDestination(instance, connection, root);
  await destination.exec(`SET TimeZone = 'UTC'`);
  await destination.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(SCHEMA)}`);
  return destination;
}

export class ParquetDestination implements Destination {
  /** Queries (demo, tests) run in DuckDB over views of the files. */
  readonly dialect = 'duckdb' as const;
  readonly description: string;
  /** The files are the tables; queries see them as views in schema `fal` of an in-memory DuckDB. */
  readonly namespace: Namespace = { name: SCHEMA, sql: quoteIdent(SCHEMA), create: false };
  private readonly staged: StagingAppender;
  private plans = new Map<string, TablePlan>();

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly root: string,
  ) {
    this.description = `Parquet ${root}`;
    this.staged = new StagingAppender(connection, (error, what) => this.wrap(error, what), 'parquet_error');
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.connection.run(sql);
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  private async rows(sql: string): Promise<Record<string, unknown>[]> {
    try {
      return (await this.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  private wrap(error: unknown, sql: string): DestinationError {
    if (error instanceof DestinationError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new DestinationError(
      'parquet_error',
      `Parquet export (${this.root}) failed: ${(message.split('\n')[0] ?? message).trim()} [while running: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`,
      {
        cause: error,
      },
    );
  }

  async prepare(plans: readonly TablePlan[]): Promise<void> {
    // Leftovers of a killed run: never renamed into place, so never read; removed here.
    rmSync(join(this.root, STAGING_DIR), { recursive: true, force: true });
    mkdirSync(join(this.root, STAGING_DIR), { recursive: true });
    for (const plan of plans) {
      this.plans.set(plan.stream, plan);
      const columns = [
        `"_seq" INTEGER`,
        ...plan.columns.map((c) => `${quoteIdent(c.name)} VARCHAR`),
        `${quoteIdent(EXTRA_COLUMN)} VARCHAR`,
      ];
      await this.exec(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(stage(plan))} (${columns.join(', ')})`);
    }
  }

  async readStates(): Promise<RawStreamStates> {
    const states: RawStreamStates = new Map();
    for (const [stream, state] of Object.entries(this.stateFile())) {
      states.set(stream, parseSavedState(stream, JSON.stringify(state), join(this.root, PARQUET_STATE_FILE)));
    }
    return states;
  }

  /** The directory keeps one fal account: recorded on first use, another account's key refused before any read. */
  async claimAccount(username: string): Promise<void> {
    const path = join(this.root, PARQUET_ACCOUNT_FILE);
    if (!existsSync(path)) {
      const aside = join(this.root, STAGING_DIR, `${randomUUID()}.json`);
      writeFileSync(aside, `${JSON.stringify({ username })}\n`);
      renameSync(aside, path);
      return;
    }
    let saved: unknown;
    try {
      const file: unknown = JSON.parse(readFileSync(path, 'utf8'));
      saved = isJsonObject(file) ? file.username : undefined;
    } catch {
      saved = undefined;
    }
    if (saved !== username) {
      throw new DestinationError(
        'other_account',
        `The Parquet directory ${this.root} holds fal account ${JSON.stringify(saved)}, but this key belongs to account "${username}". Nothing was synced. Give each account its own directory (--destination parquet://<another dir>).`,
      );
    }
  }

  private stateFile(): Record<string, unknown> {
    const path = join(this.root, PARQUET_STATE_FILE);
    if (!existsSync(path)) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      parsed = undefined;
    }
    if (!isJsonObject(parsed)) {
      throw new DestinationError(
        'invalid_saved_state',
        `${path} is not a JSON object of stream states. Delete it to re-read every stream from start_date, or run with --full-refresh.`,
      );
    }
    return parsed;
  }

  async begin(plan: TablePlan): Promise<void> {
    await this.exec(`DELETE FROM temp.main.${quoteIdent(stage(plan))}`);
    await this.staged.open(stage(plan));
  }

  async append(_plan: TablePlan, rows: readonly Cell[][]): Promise<void> {
    this.staged.append(rows);
  }

  async commit(plan: TablePlan, state: Record<string, unknown>): Promise<CommitResult> {
    this.staged.flush();
    const keys = plan.primaryKey.map(quoteIdent);
    const cursor = partitioned(plan) && plan.cursorColumn !== undefined ? quoteIdent(plan.cursorColumn) : undefined;
    const casts = [
      ...plan.columns.map((c) => `${DUCKDB_SQL.cast(quoteIdent(c.name), parquetType(c))} AS ${quoteIdent(c.name)}`),
      `${quoteIdent(EXTRA_COLUMN)}`,
    ];
    // The window's rows typed, one per key (the last staged wins), stamped, with their partition day.
    await this.exec(
      `CREATE OR REPLACE TEMP TABLE _window AS SELECT * EXCLUDE ("_seq"), current_timestamp AS ${quoteIdent(SYNCED_AT_COLUMN)}${cursor ? `, CAST(timezone('UTC', ${cursor}) AS DATE) AS "_day"` : ''}
         FROM (SELECT "_seq", ${casts.join(', ')} FROM temp.main.${quoteIdent(stage(plan))}) QUALIFY row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY "_seq" DESC) = 1`,
    );
    const [nulls] = await this.rows(
      `SELECT count(*) AS n FROM _window WHERE ${keys.map((k) => `${k} IS NULL`).join(' OR ')}${cursor ? ` OR ${cursor} IS NULL` : ''}`,
    );
    if (Number(nulls?.n ?? 0) > 0) {
      throw new DestinationError(
        'parquet_null_key',
        `Stream ${plan.stream}: ${String(nulls?.n)} rows have a NULL primary key (${plan.primaryKey.join(', ')})${cursor ? ' or cursor' : ''}; the window was not written.`,
      );
    }
    const [stats] = await this.rows(
      `SELECT CAST(count(*) AS VARCHAR) AS total, ${plan.costColumn === undefined ? 'NULL' : `CAST(sum(${quoteIdent(plan.costColumn)}) AS VARCHAR)`} AS cost, ${
        plan.cursorColumn === undefined
          ? 'NULL AS min_cursor, NULL AS max_cursor'
          : `CAST(epoch_ms(min(${quoteIdent(plan.cursorColumn)})) AS VARCHAR) AS min_cursor, CAST(epoch_ms(max(${quoteIdent(plan.cursorColumn)})) AS VARCHAR) AS max_cursor`
      } FROM _window`,
    );
    const days = cursor
      ? (await this.rows(`SELECT DISTINCT CAST("_day" AS VARCHAR) AS day FROM _window ORDER BY 1`)).map((r) =>
          String(r.day),
        )
      : [undefined];
    let existingKeys = 0;
    let existing = 0;
    for (const day of days) {
      const found = await this.writePartition(plan, day);
      existingKeys += found.updated;
      existing += found.existing;
    }
    this.writeState(plan.stream, state);
    await this.exec(`DELETE FROM temp.main.${quoteIdent(stage(plan))}`);
    const total = Number(stats?.total ?? 0);
    const optionalMs = (value: unknown): number | undefined =>
      value === null || value === undefined ? undefined : Number(value);
    return {
      inserted: total - existingKeys,
      updated: existingKeys,
      deleted: plan.kind === 'snapshot' ? existing - existingKeys : 0,
      costNano: plan.costColumn === undefined ? undefined : BigInt(String(stats?.cost ?? '0')),
      minCursorMs: optionalMs(stats?.min_cursor),
      maxCursorMs: optionalMs(stats?.max_cursor),
    };
  }

  /** Replaces one partition (or a stream's single file) with its merged content; returns what it held before. */
  private async writePartition(
    plan: TablePlan,
    day: string | undefined,
  ): Promise<{ updated: number; existing: number }> {
    const folder = day === undefined ? join(this.root, plan.table) : join(this.root, plan.table, `day=${day}`);
    const target = join(folder, FILE);
    const names = [...plan.columns.map((c) => c.name), EXTRA_COLUMN, SYNCED_AT_COLUMN];
    const types = [...plan.columns.map(parquetType), 'VARCHAR', 'TIMESTAMPTZ'];
    const keys = plan.primaryKey.map(quoteIdent);
    const window = `SELECT ${names.map(quoteIdent).join(', ')} FROM _window${day === undefined ? '' : ` WHERE "_day" = DATE ${lit(day)}`}`;
    let content = window;
    let counts = { updated: 0, existing: 0 };
    // A snapshot is replaced whole; anything else keeps the rows of its file that the window does not re-read.
    if (existsSync(target)) {
      const had = new Set(
        (await this.rows(`SELECT name FROM parquet_schema(${lit(target)})`)).map((r) => String(r.name)),
      );
      // A column a newer schema declares is NULL in rows written before it existed.
      const old = `SELECT ${names.map((n, i) => (had.has(n) ? `CAST(${quoteIdent(n)} AS ${types[i] ?? 'VARCHAR'})` : `CAST(NULL AS ${types[i] ?? 'VARCHAR'})`) + ` AS ${quoteIdent(n)}`).join(', ')} FROM read_parquet(${lit(target)})`;
      const [row] = await this.rows(
        `SELECT CAST((SELECT count(*) FROM (${old})) AS VARCHAR) AS existing, CAST(count(*) AS VARCHAR) AS updated FROM (${old}) AS o JOIN (${window}) AS w ON ${keys.map((k) => `o.${k} = w.${k}`).join(' AND ')}`,
      );
      counts = { updated: Number(row?.updated ?? 0), existing: Number(row?.existing ?? 0) };
      if (plan.kind !== 'snapshot')
        content = `${window} UNION ALL SELECT * FROM (${old}) AS o WHERE NOT EXISTS (SELECT 1 FROM (${window}) AS w WHERE ${keys.map((k) => `o.${k} = w.${k}`).join(' AND ')})`;
    }
    const aside = join(this.root, STAGING_DIR, `${plan.table}-${day ?? 'all'}-${randomUUID()}.parquet`);
    await this.exec(
      `COPY (SELECT * FROM (${content}) ORDER BY ${keys.join(', ')}) TO ${lit(aside)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    mkdirSync(folder, { recursive: true });
    renameSync(aside, target);
    return counts;
  }

  private writeState(stream: string, state: Record<string, unknown>): void {
    const states = { ...this.stateFile(), [stream]: state };
    const aside = join(this.root, STAGING_DIR, `state-${randomUUID()}.json`);
    writeFileSync(aside, `${JSON.stringify(states, null, 2)}\n`);
    renameSync(aside, join(this.root, PARQUET_STATE_FILE));
  }

  async rollback(): Promise<void> {
    this.staged.discard();
  }

  /** Parquet files hold tables only: the dbt package builds the analytics views where the files are loaded. */
  async replaceViews(): Promise<void> {}

  /** Runs `sql` over views `fal.<stream>` of the files (and `fal._source_fal_state`), as a reader would see them. */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    for (const statement of parquetViewsSql(this.root)) await this.exec(statement);
    return this.rows(sql);
  }

  async close(): Promise<void> {
    await this.rollback();
    rmSync(join(this.root, STAGING_DIR), { recursive: true, force: true });
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function stage(plan: TablePlan): string {
  return `_stage_${plan.table}`;
}

/**
 * Statements that make schema `fal` of a DuckDB connection show a Parquet directory: one view per stream folder
 * (Hive partitioning gives windowed streams their `day` column) and `_source_fal_state` from the state file.
 */
export function parquetViewsSql(root: string): string[] {
  const statements = [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(SCHEMA)}`];
  const entries = existsSync(root) ? readdirSync(root, { withFileTypes: true }) : [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const folder = join(root, entry.name);
    const files = readdirSync(folder, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.parquet'));
    if (files.length === 0) continue;
    const hive = files.some((f) => f.startsWith('day='));
    const glob = hive ? join(folder, 'day=*', '*.parquet') : join(folder, '*.parquet');
    statements.push(
      `CREATE OR REPLACE VIEW ${quoteIdent(SCHEMA)}.${quoteIdent(entry.name)} AS SELECT * FROM read_parquet(${lit(glob)}${hive ? `, hive_partitioning = true, hive_types = {'day': DATE}` : ''})`,
    );
  }
  const statePath = join(root, PARQUET_STATE_FILE);
  const stateFile: unknown = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};
  const stateRows = isJsonObject(stateFile) ? Object.entries(stateFile) : [];
  statements.push(
    `CREATE OR REPLACE VIEW ${quoteIdent(SCHEMA)}."_source_fal_state" AS SELECT * FROM (VALUES ${
      stateRows.length === 0
        ? `(NULL, NULL)`
        : stateRows.map(([stream, state]) => `(${lit(stream)}, CAST(${lit(JSON.stringify(state))} AS JSON))`).join(', ')
    }) AS t(stream, state) WHERE stream IS NOT NULL`,
  );
  return statements;
}
