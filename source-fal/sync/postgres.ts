/**
 * The PostgreSQL destination: schema `fal`, one table per stream. Rows are staged in a temporary table with
 * multi-row inserts (one `unnest` statement of text arrays per batch, so one bind parameter per column whatever
 * the batch size), then cast and merged into the stream's table by primary key with the state row, in one COMMIT.
 */
import pg from 'pg';

import type { ViewSql } from '../analytics/views.js';
import type { Logger } from '../log.js';
import { registerSecret } from '../redact.js';
import type { RawStreamStates } from '../state.js';
import { type Cell, quoteIdent, STATE_TABLE, type TablePlan } from './columns.js';
import {
  type CommitResult,
  describePostgresUrl,
  type Destination,
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
  type SqlRunner,
  stagingColumnsDdl,
  stagingName,
  stateTableDdl,
} from './sql.js';

/** Rows per staging insert: large enough to amortise round trips, small enough to keep memory flat. */
const BATCH_ROWS = 5000;
const CONNECT_TIMEOUT_MS = 10_000;

/** Every value comes back as the text PostgreSQL sent: exact for NUMERIC and BIGINT, UTC for TIMESTAMPTZ. */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

export async function openPostgres(url: string, log: Logger, schema = SCHEMA): Promise<PostgresDestination> {
  let password: string | undefined;
  try {
    password = decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    password = undefined;
  }
  if (password) registerSecret(password);
  const shown = describePostgresUrl(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'source-fal',
    types: TEXT_TYPES,
  });
  let lost: Error | undefined;
  // An idle connection dropped by the server emits 'error'; without a listener Node would crash the process.
  client.on('error', (error) => {
    lost = error;
    log.log('ERROR', `The PostgreSQL connection to ${shown} was lost: ${error.message}`);
  });
  try {
    await client.connect();
    await client.query(`SET TIME ZONE 'UTC'`);
    await client.query('SET client_min_messages TO warning');
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectError(shown, url, error);
  }
  return new PostgresDestination(client, shown, log, () => lost, {
    name: schema,
    sql: quoteIdent(schema),
    create: true,
  });
}

function connectError(shown: string, url: string, error: unknown): DestinationError {
  const e = error as { code?: string; message?: string };
  const parsed = safeUrl(url);
  const where = parsed ? `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}` : shown;
  const user = parsed?.username ? decodeURIComponent(parsed.username) : undefined;
  const database = parsed ? decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user : undefined;
  const text = e.message ?? String(error);
  const say = (code: string, message: string): DestinationError =>
    new DestinationError(code, message, { cause: error });
  switch (e.code) {
    case 'ECONNREFUSED':
      return say(
        'postgres_unreachable',
        `Cannot connect to PostgreSQL at ${where}: connection refused. Start the server or fix the host and port in --destination.`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return say(
        'postgres_unreachable',
        `Cannot connect to PostgreSQL: host ${parsed?.hostname ?? '?'} not found. Fix the host in --destination.`,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return say(
        'postgres_unreachable',
        `Cannot connect to PostgreSQL at ${where}: ${e.code}. Check the host, the port and any firewall between here and the server.`,
      );
    case '28P01':
      return say(
        'postgres_auth',
        `PostgreSQL at ${where} refused the password for user "${user ?? '?'}". Fix the user and password in --destination (or set PGPASSWORD).`,
      );
    case '28000':
      return say(
        'postgres_auth',
        `PostgreSQL at ${where} refused user "${user ?? '?'}": ${text}. Use a role that may log in, or allow it in pg_hba.conf.`,
      );
    case '3D000':
      return say(
        'postgres_no_database',
        `PostgreSQL at ${where} has no database "${database ?? '?'}". Create it (createdb ${database ?? '<name>'}) or name an existing one in --destination.`,
      );
    default:
      // node-postgres says this when the server asks for a password (SCRAM or md5) and none was given.
      if (/client password must be a string|password authentication failed|no password supplied/i.test(text)) {
        return say(
          'postgres_auth',
          `PostgreSQL at ${where} asks for a password for user "${user ?? '?'}" and none was given. Put it in --destination (postgres://${user ?? 'user'}:<password>@${where}/${database ?? 'db'}), or set PGPASSWORD, or add it to ~/.pgpass.`,
        );
      }
      if (/timeout/i.test(text)) {
        return say(
          'postgres_unreachable',
          `Cannot connect to PostgreSQL at ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s. Check the host, the port and any firewall.`,
        );
      }
      return say(
        'postgres_connect_failed',
        `Cannot connect to PostgreSQL at ${where}: ${text.split('\n')[0] ?? text}. Check --destination.`,
      );
  }
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

export class PostgresDestination implements Destination, SqlRunner {
  readonly dialect = 'postgres' as const;
  readonly description: string;
  private readonly merges = new Map<string, MergeSql>();
  private readonly inserts = new Map<string, string>();
  private inTransaction = false;
  private seq = 0;
  /** Staged rows not yet sent, column-major: `[seq[], col1[], …, extra[]]`. */
  private buffer: (number | Cell)[][] = [];
  private buffered = 0;

  constructor(
    private readonly client: pg.Client,
    private readonly shown: string,
    private readonly log: Logger,
    private readonly lostError: () => Error | undefined,
    readonly namespace: Namespace,
  ) {
    this.description = `PostgreSQL ${shown}`;
  }

  private async run(sql: string, values?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.client.query(sql, values);
    } catch (error) {
      const message = (this.lostError() ?? (error instanceof Error ? error : new Error(String(error)))).message;
      throw new DestinationError(
        'postgres_error',
        `PostgreSQL (${this.shown}) failed: ${message.split('\n')[0] ?? message} [while running: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`,
        {
          cause: error,
        },
      );
    }
  }

  async exec(sql: string, values?: (string | null)[]): Promise<void> {
    await this.run(sql, values);
  }

  async rows(sql: string, values?: (string | null)[]): Promise<Record<string, unknown>[]> {
    return (await this.run(sql, values)).rows as Record<string, unknown>[];
  }

  async existingColumns(table: string): Promise<Map<string, string>> {
    const result = await this.run(
      `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [this.namespace.name, table],
    );
    return new Map(result.rows.map((row: Record<string, unknown>) => [String(row.column_name), String(row.data_type)]));
  }

  async prepare(plans: readonly TablePlan[]): Promise<void> {
    await this.createSchema();
    await this.exec(stateTableDdl('postgres', this.namespace));
    for (const plan of plans) {
      const castTypes = await ensureTable(this, 'postgres', plan, this.log);
      this.merges.set(plan.stream, mergePlan('postgres', plan, castTypes, this.namespace));
      const staging = `pg_temp.${quoteIdent(stagingName(plan))}`;
      await this.exec(`DROP TABLE IF EXISTS ${staging}`);
      await this.exec(`CREATE TEMP TABLE ${quoteIdent(stagingName(plan))} (${stagingColumnsDdl('postgres', plan)})`);
      const arrays = ['$1::integer[]', ...[...plan.columns, null].map((_, i) => `$${i + 2}::text[]`)];
      this.inserts.set(plan.stream, `INSERT INTO ${staging} SELECT * FROM unnest(${arrays.join(', ')})`);
    }
  }

  /** The schema, or an error that says which grant is missing: a role often may connect but not create. */
  private async createSchema(): Promise<void> {
    // PostgreSQL checks CREATE on the database even for CREATE SCHEMA IF NOT EXISTS, so a schema an administrator
    // made for this role is used as it is.
    const existing = await this.client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.namespace.name]);
    if ((existing.rowCount ?? 0) > 0) return;
    try {
      await this.client.query(`CREATE SCHEMA IF NOT EXISTS ${this.namespace.sql}`);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (e.code === '42501') {
        const [{ role, db } = { role: '?', db: '?' }] = (await this.rows(
          'SELECT current_user AS role, current_database() AS db',
        ).catch(() => [])) as { role: string; db: string }[];
        throw new DestinationError(
          'postgres_permission',
          `PostgreSQL (${this.shown}) does not let role "${role}" create schema ${this.namespace.name} in database "${db}" (${e.message ?? 'permission denied'}). Ask an administrator to run GRANT CREATE ON DATABASE "${db}" TO "${role}"; or to create the schema for it: CREATE SCHEMA ${this.namespace.name} AUTHORIZATION "${role}".`,
          { cause: error },
        );
      }
      throw new DestinationError(
        'postgres_error',
        `PostgreSQL (${this.shown}) failed: ${(e.message ?? String(error)).split('\n')[0]} [while running: CREATE SCHEMA]`,
        { cause: error },
      );
    }
  }

  async claimAccount(username: string): Promise<void> {
    await claimAccount(this, username, this.description);
  }

  async readStates(): Promise<RawStreamStates> {
    const states: RawStreamStates = new Map();
    const result = await this.run(
      `SELECT stream, state::text AS state FROM ${this.namespace.sql}.${quoteIdent(STATE_TABLE)}`,
    );
    for (const row of result.rows as { stream: string; state: string }[]) {
      if (row.stream === ACCOUNT_ROW) continue;
      states.set(row.stream, parseSavedState(row.stream, row.state, this.namespace.name));
    }
    return states;
  }

  async begin(plan: TablePlan): Promise<void> {
    await this.exec('BEGIN');
    this.inTransaction = true;
    this.seq = 0;
    this.resetBuffer(plan);
  }

  private resetBuffer(plan: TablePlan): void {
    this.buffer = Array.from({ length: plan.columns.length + 2 }, () => []);
    this.buffered = 0;
  }

  async append(plan: TablePlan, rows: readonly Cell[][]): Promise<void> {
    const seqColumn = this.buffer[0] as number[];
    for (const row of rows) {
      seqColumn.push(this.seq++);
      for (let i = 0; i < row.length; i++) (this.buffer[i + 1] as Cell[]).push(row[i] ?? null);
      this.buffered++;
      if (this.buffered >= BATCH_ROWS) await this.flush(plan);
    }
  }

  private async flush(plan: TablePlan): Promise<void> {
    if (this.buffered === 0) return;
    const insert = this.inserts.get(plan.stream);
    if (!insert)
      throw new DestinationError(
        'postgres_error',
        `No table prepared for stream ${plan.stream}; this is a bug in source-fal.`,
      );
    const values = this.buffer;
    this.resetBuffer(plan);
    await this.run(insert, values);
  }

  async commit(plan: TablePlan, state: Record<string, unknown>): Promise<CommitResult> {
    const sql = this.merges.get(plan.stream);
    if (!sql)
      throw new DestinationError(
        'postgres_error',
        `No table prepared for stream ${plan.stream}; this is a bug in source-fal.`,
      );
    await this.flush(plan);
    const result = await mergeWindow(this, sql, plan.stream, state);
    await this.exec('COMMIT');
    this.inTransaction = false;
    return result;
  }

  async rollback(): Promise<void> {
    this.buffer = [];
    this.buffered = 0;
    if (this.inTransaction) {
      this.inTransaction = false;
      await this.exec('ROLLBACK');
    }
  }

  async replaceViews(views: readonly ViewSql[]): Promise<void> {
    await replaceViews(this, views);
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    return this.rows(sql);
  }

  async close(): Promise<void> {
    await this.rollback().catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
