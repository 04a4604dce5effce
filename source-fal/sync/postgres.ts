/**
 * The PostgreSQL destination: schema `fal`, one table per stream. Rows are staged in a temporary table through
 * one COPY … FROM STDIN per window (text format, https://www.postgresql.org/docs/current/sql-copy.html), then cast
 * and merged into the stream's table by primary key with the state row, in one COMMIT.
 */
import pg from 'pg';
import { type CopyStreamQuery, from as copyFrom } from 'pg-copy-streams';

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
  type SqlDialect,
  type SqlRunner,
  stagingColumnsDdl,
  stagingName,
  stateTableDdl,
} from './sql.js';

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

/** A cell in COPY's text format: backslash, tab, newline and carriage return escaped (\\N is NULL, written apart). */
export function copyText(cell: string): string {
  return /[\\\t\n\r]/.test(cell) ? cell.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c] ?? c) : cell;
}

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** PostgreSQL's SQL for the shared merge, DDL and state code (sql.ts). */
export const POSTGRES_SQL: SqlDialect = {
  name: 'postgres',
  types: {
    text: 'TEXT',
    decimal: 'NUMERIC(38,9)',
    bigint: 'BIGINT',
    boolean: 'BOOLEAN',
    timestamptz: 'TIMESTAMPTZ',
    date: 'DATE',
    json: 'JSONB',
  },
  tempSchema: 'pg_temp',
  beginTransaction: 'BEGIN',
  clearStaging: (staging) => `TRUNCATE ${staging}`,
  cast: (column, type) => `CAST(${column} AS ${type})`,
  lastPerKey: (typed, keys, columns) =>
    `SELECT DISTINCT ON (${keys.join(', ')}) ${columns.join(', ')} FROM (${typed}) AS typed ORDER BY ${keys.join(', ')}, "_seq" DESC`,
  epochMsText: (expr) => `CAST(CAST(extract(epoch FROM ${expr}) * 1000 AS BIGINT) AS TEXT)`,
  // Other sessions may write the same tables: always merge with ON CONFLICT.
  singleWriter: false,
};

export class PostgresDestination implements Destination, SqlRunner {
  readonly dialect = 'postgres' as const;
  readonly sqlDialect = POSTGRES_SQL;
  readonly description: string;
  private readonly merges = new Map<string, MergeSql>();
  private readonly copies = new Map<string, string>();
  private inTransaction = false;
  private seq = 0;
  /** The open COPY into the window's staging table, from its first append to its commit. */
  private copy: { stream: CopyStreamQuery; done: Promise<void> } | undefined;

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
      throw this.failure(error, sql);
    }
  }

  private failure(error: unknown, sql: string): DestinationError {
    const message = (this.lostError() ?? (error instanceof Error ? error : new Error(String(error)))).message;
    return new DestinationError(
      'postgres_error',
      `PostgreSQL (${this.shown}) failed: ${message.split('\n')[0] ?? message} [while running: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`,
      { cause: error },
    );
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
    await this.exec(stateTableDdl(POSTGRES_SQL, this.namespace));
    for (const plan of plans) {
      const castTypes = await ensureTable(this, plan, this.log);
      this.merges.set(plan.stream, mergePlan(POSTGRES_SQL, plan, castTypes, this.namespace));
      const staging = `pg_temp.${quoteIdent(stagingName(plan))}`;
      await this.exec(`DROP TABLE IF EXISTS ${staging}`);
      await this.exec(`CREATE TEMP TABLE ${quoteIdent(stagingName(plan))} (${stagingColumnsDdl(POSTGRES_SQL, plan)})`);
      this.copies.set(plan.stream, `COPY ${staging} FROM STDIN`);
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

  async begin(): Promise<void> {
    await this.exec('BEGIN');
    this.inTransaction = true;
    this.seq = 0;
  }

  /**
   * Stages rows through one COPY … FROM STDIN per window (text format): about twice the rows per second of
   * multi-row INSERTs from unnest arrays (docs/performance.md), and no statement size limit.
   */
  async append(plan: TablePlan, rows: readonly Cell[][]): Promise<void> {
    let text = '';
    for (const row of rows) {
      text += String(this.seq++);
      for (const cell of row) text += cell === null ? '\t\\N' : `\t${copyText(cell)}`;
      text += '\n';
    }
    const copy = this.copy ?? this.openCopy(plan);
    if (!copy.stream.write(text)) {
      await Promise.race([new Promise<void>((resolve) => copy.stream.once('drain', resolve)), copy.done]);
    }
  }

  private openCopy(plan: TablePlan): { stream: CopyStreamQuery; done: Promise<void> } {
    const sql = this.copies.get(plan.stream);
    if (!sql)
      throw new DestinationError(
        'postgres_error',
        `No table prepared for stream ${plan.stream}; this is a bug in source-fal.`,
      );
    const stream = this.client.query(copyFrom(sql));
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', (error: unknown) => reject(this.failure(error, sql)));
    });
    // A failure is awaited where the copy ends (flush) or drains; never left unhandled meanwhile.
    done.catch(() => undefined);
    this.copy = { stream, done };
    return this.copy;
  }

  /** Ends the window's COPY and waits for PostgreSQL to take every row. */
  private async flush(): Promise<void> {
    const copy = this.copy;
    if (copy === undefined) return;
    this.copy = undefined;
    copy.stream.end();
    await copy.done;
  }

  async commit(plan: TablePlan, state: Record<string, unknown>): Promise<CommitResult> {
    const sql = this.merges.get(plan.stream);
    if (!sql)
      throw new DestinationError(
        'postgres_error',
        `No table prepared for stream ${plan.stream}; this is a bug in source-fal.`,
      );
    await this.flush();
    const result = await mergeWindow(this, sql, plan.stream, state);
    await this.exec('COMMIT');
    this.inTransaction = false;
    return result;
  }

  async rollback(): Promise<void> {
    const copy = this.copy;
    this.copy = undefined;
    // An unfinished COPY is ended with an error, so PostgreSQL discards its rows and the ROLLBACK can run.
    if (copy !== undefined) {
      copy.stream.destroy(new Error('window rolled back'));
      await copy.done.catch(() => undefined);
    }
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
