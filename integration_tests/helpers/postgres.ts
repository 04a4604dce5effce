/**
 * A PostgreSQL server for the sync tests, from the first of:
 *  1. `SOURCE_FAL_TEST_PG_URL` (an admin URL; the tests create and drop their own databases there; `.ci/run` sets it),
 *  2. a `postgres` container via testcontainers, when a Docker engine answers,
 *  3. a throwaway local server from the machine's PostgreSQL binaries (Debian: /usr/lib/postgresql/<v>/bin), run as
 *     the `postgres` user when we are root, in a temp folder, on a free localhost port; stopped and deleted after.
 * Every path logs which one ran, so a test log always says what PostgreSQL the results came from.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

const run = promisify(execFile);

type PostgresSource = 'env' | 'testcontainers' | 'local';

export interface TestPostgres {
  /** Superuser (or CREATEDB) URL of the server's maintenance database. */
  url: string;
  source: PostgresSource;
  /** One line saying which PostgreSQL this is. */
  description: string;
  stop(): Promise<void>;
}

/** On a local test server (source 'local'), this role must log in with a password (scram-sha-256). */
export const PASSWORD_ROLE = 'source_fal_pw';

export async function startTestPostgres(): Promise<TestPostgres> {
  const fromEnv = process.env.SOURCE_FAL_TEST_PG_URL;
  if (fromEnv)
    return announce({
      url: fromEnv,
      source: 'env',
      description: `PostgreSQL from SOURCE_FAL_TEST_PG_URL (${await serverVersion(fromEnv)})`,
      stop: async () => undefined,
    });
  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    const url = container.getConnectionUri();
    return announce({
      url,
      source: 'testcontainers',
      description: `PostgreSQL in a testcontainers postgres:16-alpine container (${await serverVersion(url)})`,
      stop: async () => void (await container.stop()),
    });
  }
  return announce(await startLocalServer());
}

function announce(server: TestPostgres): TestPostgres {
  process.stderr.write(`[sync tests] using ${server.description}\n`);
  return server;
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return `server ${result.rows[0]?.server_version ?? '?'}`;
  } finally {
    await client.end();
  }
}

/** Quick: only when a Docker socket or host is configured, and only if it answers within a few seconds. */
async function dockerAnswers(): Promise<boolean> {
  const sockets = [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, 'docker.sock') : '',
  ];
  if (!process.env.DOCKER_HOST && !sockets.some((s) => s !== '' && existsSync(s))) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('docker probe timed out')), 5000).unref(),
    );
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  }
}

/** The newest installed PostgreSQL's bin folder (Debian layout first, then whatever `pg_config` says). */
function findPgBin(): string | undefined {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(debian, versions[0], 'bin');
  }
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bindir, 'initdb'))) return bindir;
  } catch {
    // no pg_config on PATH
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startLocalServer(): Promise<TestPostgres> {
  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      'The PostgreSQL sync tests need a server: no Docker engine answered and no PostgreSQL binaries were found. Install them (apt-get install -y postgresql), or set SOURCE_FAL_TEST_PG_URL=postgres://user:password@host:port/postgres (a role that may CREATE DATABASE).',
    );
  }
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'source-fal-pg-'));
  if (asRoot) {
    // initdb refuses to run as root: the cluster belongs to the `postgres` user the Debian package creates.
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const as = (command: string, args: string[]): Promise<{ stdout: string; stderr: string }> =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args]) : run(join(bin, command), args);
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
    // One role must give a password, as most real servers ask: the test of a URL without one (PASSWORD_ROLE).
    const hba = join(data, 'pg_hba.conf');
    // Written in place, so the file keeps its owner (the postgres user when we run as root).
    writeFileSync(hba, `host all ${PASSWORD_ROLE} all scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    await as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    source: 'local',
    description: `a local PostgreSQL from ${bin} on port ${port} (${await serverVersion(url)})`,
    stop: async () => {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new, empty database on the server; returns its URL. Each scenario gets its own, so runs never share state. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}"`);
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs one query on a database, in UTC (or `timeZone`), and closes the connection (so nothing holds locks between syncs). */
export async function pgQuery<T extends Record<string, unknown> = Record<string, unknown>>(
  url: string,
  sql: string,
  values?: unknown[],
  timeZone = 'UTC',
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, options: `-c TimeZone=${timeZone}` });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}
