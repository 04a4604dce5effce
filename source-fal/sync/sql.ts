/**
 * The SQL of one window's commit, for any SQL destination (what differs between engines is its SqlDialect). The staged text cells are cast to the table's types,
 * deduplicated by primary key (the last staged row wins: a key seen twice in one window must not make the merge
 * update a row twice), counted against the table (new keys vs re-read keys), and then merged
 * (INSERT … ON CONFLICT (pk) DO UPDATE) or, for a snapshot stream, swapped in for the whole table content.
 */
import { replaceViewsSql, type ViewSql } from '../analytics/views.js';
import type { Logger } from '../log.js';
import {
  type ColumnKind,
  type Dialect,
  EXTRA_COLUMN,
  quoteIdent,
  sameSqlType,
  STATE_TABLE,
  SYNCED_AT_COLUMN,
  type TablePlan,
} from './columns.js';
import type { CommitResult } from './destination.js';
import { DestinationError, type Namespace } from './destination.js';

export interface MergeSql {
  /**
   * One row about the staged rows as they are: staged (rows), total (distinct keys), inserted (rows whose key the
   * table lacks), existing (the table's rows, snapshots only), cost, min_cursor, max_cursor (all text). Exact when
   * no key repeats (staged = total), the usual case.
   */
  stats: string;
  /** The same row after deduplication by key (the last staged row wins), for a window where a key repeats. */
  dedupedStats: string;
  /**
   * The same row without `inserted`, from the staged rows alone: it does not scan the table, which `stats` does for its
   * join (a cost that grows with the table; docs/performance.md).
   */
  stagedStats: string;
  /** Inserts every staged row as it is; fails on a key the table already has (the caller then merges instead). */
  insertAll: string;
  /** Statements that move the staged rows into the table, given the stats row. */
  apply(stats: Record<string, unknown>): string[];
  /** Upserts the state row; parameters $1 stream, $2 state JSON text. */
  saveState: string;
  clearStaging: string;
  result(stats: Record<string, unknown>): CommitResult;
}

/**
 * What the shared SQL needs to know about one engine. Each SQL destination defines its own next to its
 * Destination (duckdb.ts, postgres.ts); nothing in this module names an engine.
 */
export interface SqlDialect {
  /** The engine, for error codes (`<name>_error`) and the analytics views' dialect. */
  readonly name: Dialect;
  /** The SQL type of each column kind. */
  readonly types: Readonly<Record<ColumnKind, string>>;
  /** Where a connection's temporary staging tables are. */
  readonly tempSchema: string;
  readonly beginTransaction: string;
  clearStaging(staging: string): string;
  /** Staged text → the column's SQL type. */
  cast(column: string, type: string): string;
  /**
   * One row per key, the row with the highest `"_seq"`, out of `typed` (a SELECT of `"_seq"` and every column
   * cast to its type), without `"_seq"`.
   */
  lastPerKey(typed: string, keys: readonly string[], columns: readonly string[]): string;
  /** A timestamp expression as the text of its epoch milliseconds. */
  epochMsText(expr: string): string;
  /**
   * True when nothing else can write the table between the window's count and its insert (one writer per
   * database), so a window of only new keys may insert without the conflict handling, its most expensive part.
   */
  readonly singleWriter: boolean;
}

export function stagingName(plan: TablePlan): string {
  return `_stage_${plan.table}`;
}

/** `castTypes[i]` is the SQL type of `plan.columns[i]` in the table as it exists. */
export function mergePlan(dialect: SqlDialect, plan: TablePlan, castTypes: readonly string[], ns: Namespace): MergeSql {
  const { text, json } = dialect.types;
  const staging = `${dialect.tempSchema}.${quoteIdent(stagingName(plan))}`;
  const table = `${ns.sql}.${quoteIdent(plan.table)}`;
  const names = [...plan.columns.map((c) => c.name), EXTRA_COLUMN];
  const quoted = names.map(quoteIdent);
  const cast = (name: string): string => {
    const i = plan.columns.findIndex((c) => c.name === name);
    return dialect.cast(quoteIdent(name), castTypes[i] ?? text);
  };
  const casts = [
    ...plan.columns.map((c) => `${cast(c.name)} AS ${quoteIdent(c.name)}`),
    `CAST(${quoteIdent(EXTRA_COLUMN)} AS ${json}) AS ${quoteIdent(EXTRA_COLUMN)}`,
  ];
  const keys = plan.primaryKey.map(quoteIdent);
  const typed = `SELECT ${casts.join(', ')} FROM ${staging}`;
  // Only for a window where a key repeats: one row per key, the last staged.
  const deduped = dialect.lastPerKey(`SELECT "_seq", ${casts.join(', ')} FROM ${staging}`, keys, quoted);
  const epochMs = (expr: string): string => dialect.epochMsText(expr);
  const join = keys.map((k) => `s.${k} = t.${k}`).join(' AND ');
  // Stats over rows of the table's types (`s`), left-joined to the table (`t`) unless `joined` is false; `staged` is
  // the raw row count.
  const statsOver = (source: string, total: string, staged: string, joined = true): string => {
    const cursor = plan.cursorColumn === undefined ? undefined : `s.${quoteIdent(plan.cursorColumn)}`;
    return (
      [
        `SELECT CAST(${staged} AS ${text}) AS staged`,
        `CAST(${total} AS ${text}) AS total`,
        `${joined ? `CAST(count(*) FILTER (WHERE t.${keys[0]} IS NULL) AS ${text})` : 'NULL'} AS inserted`,
        // Only a snapshot needs the table's row count (to report removed rows); in PostgreSQL count(*) scans the table.
        `${plan.kind === 'snapshot' ? `CAST((SELECT count(*) FROM ${table}) AS ${text})` : 'NULL'} AS existing`,
        `${plan.costColumn === undefined ? 'NULL' : `CAST(sum(s.${quoteIdent(plan.costColumn)}) AS ${text})`} AS cost`,
        `${cursor === undefined ? 'NULL' : epochMs(`min(${cursor})`)} AS min_cursor`,
        `${cursor === undefined ? 'NULL' : epochMs(`max(${cursor})`)} AS max_cursor`,
      ].join(', ') + ` FROM (${source}) AS s${joined ? ` LEFT JOIN ${table} AS t ON ${join}` : ''}`
    );
  };
  // The fast path casts only the columns the stats need; the distinct count tells whether a key repeats.
  const needed = [
    ...new Set([
      ...plan.primaryKey,
      ...(plan.costColumn === undefined ? [] : [plan.costColumn]),
      ...(plan.cursorColumn === undefined ? [] : [plan.cursorColumn]),
    ]),
  ];
  const narrow = `SELECT ${needed.map((n) => `${cast(n)} AS ${quoteIdent(n)}`).join(', ')} FROM ${staging}`;
  const distinctKeys =
    keys.length === 1 ? `count(DISTINCT s.${keys[0]})` : `count(DISTINCT (${keys.map((k) => `s.${k}`).join(', ')}))`;
  const insertFrom = (source: string): string =>
    `INSERT INTO ${table} (${[...quoted, quoteIdent(SYNCED_AT_COLUMN)].join(', ')}) SELECT s.*, current_timestamp FROM (${source}) AS s`;
  const updates = [...plan.columns.filter((c) => !c.key).map((c) => c.name), EXTRA_COLUMN, SYNCED_AT_COLUMN].map(
    (n) => `${quoteIdent(n)} = EXCLUDED.${quoteIdent(n)}`,
  );
  const upsertFrom = (source: string): string =>
    `${insertFrom(source)} ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
  const apply = (row: Record<string, unknown>): string[] => {
    const source = Number(row.staged) > Number(row.total) ? deduped : typed;
    // Replace in the same transaction: readers see the old snapshot or the new one, never a mix or an empty table.
    if (plan.kind === 'snapshot') return [`DELETE FROM ${table}`, insertFrom(source)];
    // A window of only new keys, as in a backfill, skips the conflict handling where no other writer can interfere.
    return [
      dialect.singleWriter && Number(row.inserted) === Number(row.total) ? insertFrom(source) : upsertFrom(source),
    ];
  };
  const state = `${ns.sql}.${quoteIdent(STATE_TABLE)}`;
  return {
    stats: statsOver(narrow, distinctKeys, 'count(*)'),
    dedupedStats: statsOver(deduped, 'count(*)', `(SELECT count(*) FROM ${staging})`),
    stagedStats: statsOver(narrow, distinctKeys, 'count(*)', false),
    insertAll: insertFrom(typed),
    apply,
    saveState: `INSERT INTO ${state} (stream, state, updated_at) VALUES ($1, CAST($2 AS ${json}), current_timestamp) ON CONFLICT (stream) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
    clearStaging: dialect.clearStaging(staging),
    result(row) {
      const total = Number(row.total ?? 0);
      const inserted = Number(row.inserted ?? 0);
      const updated = total - inserted;
      const optionalMs = (value: unknown): number | undefined =>
        value === null || value === undefined ? undefined : Number(value);
      return {
        inserted,
        updated,
        deleted: plan.kind === 'snapshot' ? Number(row.existing ?? 0) - updated : 0,
        costNano: plan.costColumn === undefined ? undefined : BigInt(String(row.cost ?? '0')),
        minCursorMs: optionalMs(row.min_cursor),
        maxCursorMs: optionalMs(row.max_cursor),
      };
    },
  };
}

/**
 * Moves a window's staged rows into its table and saves the stream's state, inside the open transaction (the caller
 * commits). A window where a key repeats is counted again after deduplication, so the counts are of distinct keys.
 */
export async function mergeWindow(
  db: SqlRunner,
  sql: MergeSql,
  stream: string,
  state: Record<string, unknown>,
): Promise<CommitResult> {
  let [stats] = await db.rows(sql.stats);
  if (stats !== undefined && Number(stats.staged) > Number(stats.total)) [stats] = await db.rows(sql.dedupedStats);
  if (stats === undefined)
    throw new DestinationError(
      `${db.sqlDialect.name}_error`,
      'The merge statistics query returned nothing; this is a bug in source-fal.',
    );
  for (const statement of sql.apply(stats)) await db.exec(statement);
  await saveWindowState(db, sql, stream, state);
  return sql.result(stats);
}

/** The end of every window's transaction, whichever way its rows went in: its state row, and staging emptied. */
export async function saveWindowState(
  db: SqlRunner,
  sql: MergeSql,
  stream: string,
  state: Record<string, unknown>,
): Promise<void> {
  await db.exec(sql.saveState, [stream, JSON.stringify(state)]);
  await db.exec(sql.clearStaging);
}

/** What the shared DDL code needs from a connection. */
export interface SqlRunner {
  readonly sqlDialect: SqlDialect;
  readonly namespace: Namespace;
  exec(sql: string, values?: (string | null)[]): Promise<void>;
  rows(sql: string, values?: (string | null)[]): Promise<Record<string, unknown>[]>;
  /** Column name → SQL type of the namespace's `<table>`, in table order; empty when the table does not exist. */
  existingColumns(table: string): Promise<Map<string, string>>;
}

/**
 * Creates the stream's table, or adds the columns a newer schema declares
 * (additive migration: existing rows get NULL, nothing is dropped or retyped). Returns the SQL type of each
 * declared column as the table really has it, which is what staged text is cast to.
 */
export async function ensureTable(db: SqlRunner, plan: TablePlan, log: Logger): Promise<string[]> {
  const types = db.sqlDialect.types;
  const existing = await db.existingColumns(plan.table);
  const wanted = [
    ...plan.columns.map((c) => ({ name: c.name, type: types[c.kind], notNull: c.key })),
    { name: EXTRA_COLUMN, type: types.json, notNull: false },
    { name: SYNCED_AT_COLUMN, type: types.timestamptz, notNull: true },
  ];
  const ns = db.namespace;
  const table = `${ns.sql}.${quoteIdent(plan.table)}`;
  if (existing.size === 0) {
    const defs = wanted.map((c) => `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`);
    await db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (${defs.join(', ')}, PRIMARY KEY (${plan.primaryKey.map(quoteIdent).join(', ')}))`,
    );
  } else {
    for (const column of wanted) {
      const actual = existing.get(column.name);
      if (actual === undefined) {
        await db.exec(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(column.name)} ${column.type}`);
        log.log(
          'INFO',
          `Added column ${column.name} ${column.type} to ${ns.name}.${plan.table} (the stream's schema declares it now).`,
        );
      } else if (!sameSqlType(actual, column.type)) {
        log.log(
          'WARN',
          `Column ${ns.name}.${plan.table}.${column.name} is ${actual} but the schema says ${column.type}; it is kept as ${actual}. Change it yourself if you want the new type.`,
        );
      }
    }
  }
  return plan.columns.map((c) => existing.get(c.name) ?? types[c.kind]);
}

/** The row of the state table that says which fal account the namespace holds (not a stream: never read as one). */
export const ACCOUNT_ROW = '_account';

/**
 * Ties the namespace to one fal account: the first sync records the account's username, a later sync with a key of
 * another account is refused before anything is read, so two accounts never mix in one set of tables (snapshots
 * would be overwritten, usage merged). fal's username is the account's name, not a secret; two keys of one
 * account share it.
 */
export async function claimAccount(db: SqlRunner, username: string, description: string): Promise<void> {
  const state = `${db.namespace.sql}.${quoteIdent(STATE_TABLE)}`;
  const rows = await db.rows(
    `SELECT CAST(state AS ${db.sqlDialect.types.text}) AS state FROM ${state} WHERE stream = $1`,
    [ACCOUNT_ROW],
  );
  const saved = rows[0] === undefined ? undefined : accountOf(String(rows[0].state));
  if (saved === undefined) {
    await db.exec(
      `INSERT INTO ${state} (stream, state, updated_at) VALUES ($1, CAST($2 AS ${db.sqlDialect.types.json}), current_timestamp)`,
      [ACCOUNT_ROW, JSON.stringify({ username })],
    );
    return;
  }
  if (saved !== username) {
    throw new DestinationError(
      'other_account',
      `Schema ${db.namespace.name} in ${description} holds fal account "${saved}", but this key belongs to account "${username}". Nothing was synced. Give each account its own schema, e.g. --schema ${suggestSchema(username)}, or its own --destination.`,
    );
  }
}

function accountOf(text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && 'username' in value && typeof value.username === 'string'
      ? value.username
      : undefined;
  } catch {
    return undefined;
  }
}

function suggestSchema(username: string): string {
  const tail = username
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return `fal_${tail || 'other'}`.slice(0, 63);
}

/** The state table: one row per stream, the same JSON the Airbyte read takes (`{"bucket": "…"}`). */
export function stateTableDdl(dialect: SqlDialect, ns: Namespace): string {
  const types = dialect.types;
  return `CREATE TABLE IF NOT EXISTS ${ns.sql}.${quoteIdent(STATE_TABLE)} (stream ${types.text} PRIMARY KEY, state ${types.json} NOT NULL, updated_at ${types.timestamptz} NOT NULL)`;
}

/** The staging table of a stream: an order column, then every column as text. Temporary, per connection. */
export function stagingColumnsDdl(dialect: SqlDialect, plan: TablePlan): string {
  const text = dialect.types.text;
  return [
    `"_seq" INTEGER`,
    ...plan.columns.map((c) => `${quoteIdent(c.name)} ${text}`),
    `${quoteIdent(EXTRA_COLUMN)} ${text}`,
  ].join(', ');
}

/**
 * Replaces the analytics views (source-fal/analytics/views.ts) in one transaction, so a failure leaves the previous
 * views as they were. A view of the user's own built on ours makes the DROP fail: that is said with the fix.
 */
export async function replaceViews(db: SqlRunner, views: readonly ViewSql[]): Promise<void> {
  await db.exec(db.sqlDialect.beginTransaction);
  try {
    for (const statement of replaceViewsSql(db.namespace.sql, views)) await db.exec(statement);
    await db.exec('COMMIT');
  } catch (error) {
    await db.exec('ROLLBACK').catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    throw new DestinationError(
      'views_not_replaced',
      `The analytics views ${views.map((v) => `${db.namespace.name}.${v.name}`).join(', ')} were left as they were: ${message}. If a view of your own depends on them, drop it before the sync and create it again after.`,
      { cause: error },
    );
  }
}
