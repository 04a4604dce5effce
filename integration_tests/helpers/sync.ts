/**
 * Test vocabulary for `source-fal sync`: run the built CLI as a child process (optionally SIGKILLing it at a chosen
 * moment), and look into the warehouse it wrote, the same way for DuckDB and PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { DuckDBInstance } from '@duckdb/node-api';

import { parquetViewsSql } from '../../source-fal/sync/parquet.js';
import { CLI } from './cli.js';
import { freshDatabase, pgQuery } from './postgres.js';

export interface SyncResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SyncRunOptions {
  env?: Record<string, string>;
  /** Working directory of the child (the default destination ./fal.duckdb lands there). */
  cwd?: string;
  /** Polled every few milliseconds while the child runs; SIGKILL it once this returns true. */
  killWhen?: () => boolean;
  timeoutMs?: number;
}

export function runSync(args: readonly string[], options: SyncRunOptions = {}): Promise<SyncResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'sync', ...args], {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    const poll = options.killWhen
      ? setInterval(() => {
          if (options.killWhen?.()) {
            child.kill('SIGKILL');
            if (poll) clearInterval(poll);
          }
        }, 2)
      : undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A warehouse the tests can create afresh and query; every value comes back as text (or null). */
export interface TestWarehouse {
  readonly dialect: 'duckdb' | 'postgres';
  /** A new empty destination, as the --destination argument. */
  fresh(name: string): Promise<string>;
  /** Runs in a session of `timeZone` (default UTC). */
  query(destination: string, sql: string, timeZone?: string): Promise<Record<string, string | null>[]>;
  /** `table.column` → SQL type as the database reports it, for every table in schema fal. */
  columnTypes(destination: string): Promise<Map<string, string>>;
  /** The type JSON values have (default JSON/JSONB; Parquet keeps them as text). */
  readonly jsonType?: RegExp;
  /** false when the state is not a SQL table (Parquet): the scenario that edits it with UPDATE is left out. */
  readonly stateTable?: boolean;
  /**
   * false when a window lands file by file (Parquet: each day partition is replaced atomically, then the state), so
   * a kill during a commit can leave some of the window's days new under the old state; the rerun rewrites them.
   */
  readonly windowAtomic?: boolean;
}

const asText = (rows: Record<string, unknown>[]): Record<string, string | null>[] =>
  rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [
        k,
        v === null || v === undefined
          ? null
          : v instanceof Date
            ? v.toISOString()
            : typeof v === 'object'
              ? JSON.stringify(v)
              : String(v),
      ]),
    ),
  );

export function duckdbWarehouse(dir: string): TestWarehouse {
  return {
    dialect: 'duckdb',
    fresh: async (name) => join(dir, `${name}.duckdb`),
    async query(destination, sql, timeZone = 'UTC') {
      // Opened and closed around each query: the sync child needs the file's lock.
      const instance = await DuckDBInstance.create(destination);
      const connection = await instance.connect();
      try {
        await connection.run(`SET TimeZone = '${timeZone}'`);
        return asText((await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    },
    async columnTypes(destination) {
      const rows = await this.query(
        destination,
        `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'fal'`,
      );
      return new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, String(r.data_type)]));
    },
  };
}

export function postgresWarehouse(adminUrl: string): TestWarehouse {
  return {
    dialect: 'postgres',
    fresh: (name) => freshDatabase(adminUrl, name),
    async query(destination, sql, timeZone = 'UTC') {
      return asText(await pgQuery(destination, sql, undefined, timeZone));
    },
    async columnTypes(destination) {
      const rows = await this.query(
        destination,
        `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'fal' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`,
      );
      return new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, String(r.data_type)]));
    },
  };
}

/** Exact decimal text (`123.450000000`) → integer nano-USD, without floats. */
export function decimalToNano(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = text.replace(/^[-+]/, '').split('.');
  const nano = BigInt(whole) * 1_000_000_000n + BigInt((fraction + '000000000').slice(0, 9));
  return negative ? -nano : nano;
}

/**
 * A Parquet directory as a warehouse: each query runs in a fresh in-memory DuckDB where `fal.<stream>` is
 * `read_parquet('<dir>/<stream>/…', hive_partitioning = true)` and `fal._source_fal_state` the state file's rows,
 * as a user of the files would read them.
 */
export function parquetWarehouse(dir: string): TestWarehouse {
  const root = (destination: string): string => destination.replace(/^parquet:(\/\/)?/, '');
  return {
    dialect: 'duckdb',
    jsonType: /^VARCHAR$/,
    stateTable: false,
    windowAtomic: false,
    fresh: async (name) => `parquet://${join(dir, name)}`,
    async query(destination, sql) {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      try {
        await connection.run(`SET TimeZone = 'UTC'`);
        for (const statement of parquetViewsSql(root(destination))) await connection.run(statement);
        return asText((await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    },
    async columnTypes(destination) {
      const rows = await this.query(
        destination,
        `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'fal'`,
      );
      return new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, String(r.data_type)]));
    },
  };
}
