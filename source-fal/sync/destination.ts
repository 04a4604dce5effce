/**
 * What `sync` needs from a warehouse, one small interface per database (duckdb.ts, postgres.ts).
 *
 * One window of one stream is one transaction: `begin` opens it with an empty staging table, `append` stages rows
 * (bulk: DuckDB's appender, PostgreSQL multi-row unnest inserts), `commit` merges the staged rows into the stream's
 * table by primary key (or replaces the table, for snapshot streams), upserts the stream's state into
 * `_source_fal_state` and commits, all at once. A window never partly lands.
 */
import type { ViewSql } from '../analytics/views.js';
import { SourceFalError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { RawStreamStates } from '../state.js';
import type { Cell, Dialect, TablePlan } from './columns.js';

/** The warehouse schema every table lives in, unless `--schema` names another. */
export const SCHEMA = 'fal';

/**
 * Where a destination's tables are. `name` is how a user writes it in a query (`fal.usage`); `sql` is the quoted,
 * fully qualified prefix our own statements use. They differ in DuckDB when the database file is named like the
 * schema (`fal.duckdb`): DuckDB names the attached catalog after the file, so a schema `fal` inside catalog `fal`
 * makes `fal.usage` ambiguous. There the tables go in the catalog's default schema `main`, and `fal.usage` still
 * resolves (catalog `fal`, schema `main`).
 */
export interface Namespace {
  readonly name: string;
  readonly sql: string;
  /** Whether our SQL must create the schema (not for DuckDB's `main`). */
  readonly create: boolean;
}

/** `--schema`: a plain lower-case SQL identifier, so users never need quotes to query it. */
export function parseSchemaName(text: string): string {
  const name = text.trim();
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new DestinationConfigError(
      `--schema ${JSON.stringify(text)} is not a plain schema name: use lower-case letters, digits and _ (at most 63, not starting with a digit), e.g. fal_acme.`,
    );
  }
  if (name === 'main' || name === 'public' || name.startsWith('pg_') || name === 'information_schema') {
    throw new DestinationConfigError(
      `--schema ${name} is a database's own schema; choose a schema of source-fal's own, e.g. fal or fal_acme.`,
    );
  }
  return name;
}

export interface CommitResult {
  /** Distinct primary keys staged in the window that were new to the table. */
  inserted: number;
  /** Distinct primary keys staged in the window that were already in the table (re-read rows). */
  updated: number;
  /** Snapshot streams only: rows that were in the table and are not in the new snapshot. */
  deleted: number;
  /** Sum of the plan's cost column over the staged rows (nano-USD), when it has one. */
  costNano: bigint | undefined;
  /** Smallest and largest cursor value over the staged rows, epoch ms, when the plan has a cursor column. */
  minCursorMs: number | undefined;
  maxCursorMs: number | undefined;
}

export interface Destination {
  readonly dialect: Dialect;
  /** Where the tables are (`fal` unless --schema says otherwise). */
  readonly namespace: Namespace;
  /** Where the data goes, for humans; never contains a password. */
  readonly description: string;
  /**
   * Creates the schema, the state table, each stream's table (adding, never dropping, columns a newer schema
   * declares) and its staging table. May adjust `plans` to the columns the tables really have.
   */
  prepare(plans: readonly TablePlan[]): Promise<void>;
  /** The saved state of every stream, as the Airbyte read takes it. */
  readStates(): Promise<RawStreamStates>;
  /** Records the fal account the tables hold, or refuses a different one (see sql.ts claimAccount). */
  claimAccount(username: string): Promise<void>;
  begin(plan: TablePlan): Promise<void>;
  append(plan: TablePlan, rows: readonly Cell[][]): Promise<void>;
  commit(plan: TablePlan, state: Record<string, unknown>): Promise<CommitResult>;
  rollback(): Promise<void>;
  /**
   * Replaces the analytics views (focus_costs, invoice_reconciliation) in one transaction. A destination without
   * views (a Parquet directory) does nothing: its users build them with the dbt package.
   */
  replaceViews(views: readonly ViewSql[]): Promise<void>;
  /** A read-only query for the demo and the tests: rows as plain JS values (text for decimals and timestamps). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** The warehouse refused or failed: names the destination and what to do. Fails the stream (or the run). */
export class DestinationError extends SourceFalError {
  readonly failureType = 'system_error' as const;
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, {}, options);
  }
}

/** A row of `_source_fal_state` as the Airbyte read takes it; a row someone broke by hand is named with the fix. */
export function parseSavedState(stream: string, text: string, schema: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isJsonObject(parsed)) {
    throw new DestinationError(
      'invalid_saved_state',
      `The saved state of stream ${stream} in ${schema}._source_fal_state is not a JSON object (${text.slice(0, 80)}). Delete that row to re-read from start_date, or run with --full-refresh.`,
    );
  }
  return parsed;
}

/** A destination argument that is not one we can load into. */
export class DestinationConfigError extends SourceFalError {
  readonly failureType = 'config_error' as const;
  readonly code = 'invalid_destination';
}

/** A PostgreSQL URL with the password replaced, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    parsed.searchParams.delete('password');
    return parsed.toString();
  } catch {
    return 'postgres://…';
  }
}
