/**
 * What a new user does first, verbatim: `sync` into the default `./fal.duckdb` (and any file whose name is `fal`),
 * then the README's sample queries in a DuckDB session of their own, which is not in UTC. Days must be UTC days
 * whatever the session's time zone, on DuckDB and PostgreSQL alike.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { SAMPLE_QUERY } from '../source-fal/sync/demo.js';
import { CLI, tempDir } from './helpers/cli.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { freshDatabase, PASSWORD_ROLE, pgQuery, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { decimalToNano, runSync } from './helpers/sync.js';

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
/** Every ```sql block of the README that reads the synced tables. */
const README_QUERIES = [...README.matchAll(/```sql\n([\s\S]*?)```/g)]
  .map((m) => m[1] ?? '')
  .filter((sql) => /\bfal\.\w+/.test(sql));
/** The tables the README's queries read. */
const README_STREAMS = 'usage,usage_by_tag,model_analytics,api_keys,billing_events';
const ACCOUNT = 'acme-ml';
const ZONE = 'America/Los_Angeles';
/** Per UTC day cost of the usage table, spelled the way the README tells users to spell days. */
const DAILY = `SELECT CAST(bucket AT TIME ZONE 'UTC' AS DATE) AS day, SUM(cost_total) AS cost FROM fal.usage GROUP BY 1 ORDER BY 1`;

async function duckQuery(file: string, sql: string, zone = ZONE): Promise<Record<string, unknown>[]> {
  // A fresh session on the file, as `duckdb fal.duckdb` opens it: the catalog is named after the file.
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  try {
    await connection.run(`SET TimeZone = '${zone}'`);
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const byDay = (rows: Record<string, unknown>[]): [string, string][] =>
  rows.map((r) => [String(r.day).slice(0, 10), decimalToNano(String(r.cost)).toString()]);

describe('given a fal account and a new user who runs the README commands verbatim', () => {
  let emu: Emulator;
  let truth: [string, string][];
  const start = '2026-11-05';
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 30 });
    truth = [...emu.truth.usageNanoByDay(ACCOUNT, new Date(`${start}T00:00:00Z`), new Date(FIXED_NOW))]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, nano]) => [day, nano.toString()]);
  });
  afterAll(async () => {
    await emu.close();
  });
  const env = (): Record<string, string> => ({
    ...cliEnv(),
    FAL_ADMIN_KEY: ADMIN_KEY,
    FAL_BASE_URL: emu.url,
    FAL_START_DATE: start,
  });

  it.for([
    ['the default destination (./fal.duckdb)', [], 'fal.duckdb'],
    ['duckdb://fal.duckdb', ['--destination', 'duckdb://fal.duckdb'], 'fal.duckdb'],
    ['./sub/FAL.duckdb', ['--destination', './sub/FAL.duckdb'], 'sub/FAL.duckdb'],
  ] as const)(
    'when they sync into %s then it completes, and the README queries run in a fresh non-UTC DuckDB session with UTC days equal to fal',
    { timeout: 120_000 },
    async ([, args, file]) => {
      const cwd = tempDir('source-fal-first-');
      mkdirSync(join(cwd, 'sub'));
      const run = await runSync([...args, '--streams', README_STREAMS], { env: env(), cwd });
      expect(run.code, run.stderr).toBe(0);
      const path = join(cwd, file);
      expect(existsSync(path)).toBe(true);
      expect(README_QUERIES.length).toBeGreaterThan(0);
      for (const sql of README_QUERIES) {
        const rows = await duckQuery(path, sql.replace(/;\s*$/, ''));
        expect(rows.length, sql).toBeGreaterThan(0);
      }
      expect(byDay(await duckQuery(path, DAILY))).toEqual(truth);
      // The demo's sample query, in a session east and west of UTC: the same days.
      const days = async (zone: string): Promise<string[]> =>
        (await duckQuery(path, SAMPLE_QUERY, zone)).map((r) => String(r.day));
      expect(await days(ZONE)).toEqual(await days('UTC'));
      expect(await days('Asia/Tokyo')).toEqual(await days('UTC'));
    },
  );

  it(
    'when a second fal account is synced into the same DuckDB file then it is refused, nothing changes, and --schema gives it its own tables',
    { timeout: 120_000 },
    async () => {
      const cwd = tempDir('source-fal-accounts-');
      const first = await runSync(['--streams', 'usage,api_keys'], { env: env(), cwd });
      expect(first.code, first.stderr).toBe(0);
      const path = join(cwd, 'fal.duckdb');
      const count = async (sql: string): Promise<string> => String((await duckQuery(path, sql))[0]?.n);
      const before = [
        await count('SELECT count(*) AS n FROM fal.usage'),
        await count('SELECT count(*) AS n FROM fal.api_keys'),
      ];

      const other = { ...env(), FAL_ADMIN_KEY: ORG_ADMIN_KEY };
      const refused = await runSync(['--streams', 'usage,api_keys'], { env: other, cwd });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/holds fal account "acme-ml", but this key belongs to account "acme"/);
      expect(refused.stderr).toContain('--schema fal_acme');
      expect([
        await count('SELECT count(*) AS n FROM fal.usage'),
        await count('SELECT count(*) AS n FROM fal.api_keys'),
      ]).toEqual(before);

      const own = await runSync(['--streams', 'usage,api_keys', '--schema', 'fal_acme'], { env: other, cwd });
      expect(own.code, own.stderr).toBe(0);
      expect(Number(await count('SELECT count(*) AS n FROM fal_acme.usage'))).toBeGreaterThan(0);
      expect([
        await count('SELECT count(*) AS n FROM fal.usage'),
        await count('SELECT count(*) AS n FROM fal.api_keys'),
      ]).toEqual(before);
      // The first account syncs on as before.
      const again = await runSync(['--streams', 'usage,api_keys'], { env: env(), cwd });
      expect(again.code, again.stderr).toBe(0);
    },
  );

  it('when --schema is not a plain name then sync refuses it before reading anything, with an example', async () => {
    const cwd = tempDir('source-fal-schema-');
    const run = await runSync(['--schema', 'Fal-Acme'], { env: env(), cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--schema "Fal-Acme" is not a plain schema name: .* e\.g\. fal_acme/);
    expect(existsSync(join(cwd, 'fal.duckdb'))).toBe(false);
  });

  it(
    'when a key cannot read the organization streams then sync says so once, as information, not three warnings',
    { timeout: 60_000 },
    async () => {
      const cwd = tempDir('source-fal-org-');
      const run = await runSync(['--destination', 'x.duckdb'], { env: env(), cwd });
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stderr
        .split('\n')
        .filter((line) => /teams|org_usage|org_billing_events/.test(line) && /organization/.test(line));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^source-fal: Not synced with this key: teams, org_usage, org_billing_events \(/);
      expect(run.stderr).not.toMatch(/WARN Stream/);
    },
  );

  describe('and PostgreSQL', () => {
    let pg: TestPostgres;
    beforeAll(async () => {
      pg = await startTestPostgres();
    });
    afterAll(async () => {
      await pg.stop();
    });

    it(
      'when the README queries run in a session set to America/Los_Angeles then the days are UTC days equal to fal',
      { timeout: 120_000 },
      async () => {
        const url = await freshDatabase(pg.url, 'first_contact');
        const run = await runSync(['--destination', url, '--streams', README_STREAMS], { env: env() });
        expect(run.code, run.stderr).toBe(0);
        for (const sql of README_QUERIES) expect((await pgQuery(url, sql, [], ZONE)).length, sql).toBeGreaterThan(0);
        // Days as text, so the client's own time zone cannot move them.
        const asText = (sql: string): string =>
          `SELECT CAST(day AS TEXT) AS day, q.* FROM (${sql.replace(/\s*ORDER BY[^)]*$/i, '')}) q ORDER BY 1`;
        const daily = await pgQuery(
          url,
          `SELECT CAST(day AS TEXT) AS day, cost FROM (${DAILY.replace(/ ORDER BY 1$/, '')}) q ORDER BY 1`,
          [],
          ZONE,
        );
        expect(byDay(daily)).toEqual(truth);
        const sampleDays = async (zone: string): Promise<string[]> =>
          (await pgQuery(url, asText(SAMPLE_QUERY), [], zone)).map((r) => String(r.day));
        expect(await sampleDays(ZONE)).toEqual(await sampleDays('UTC'));
      },
    );

    it(
      'when the URL has no password and the server asks for one then sync says where to put it, and nothing is written',
      { timeout: 60_000 },
      async ({ skip }) => {
        if (pg.source !== 'local') skip('needs the local test server, whose pg_hba asks this role for a password');
        const url = await freshDatabase(pg.url, 'first_contact_pw');
        await pgQuery(pg.url, `DROP ROLE IF EXISTS ${PASSWORD_ROLE}`).catch(() => undefined);
        await pgQuery(pg.url, `CREATE ROLE ${PASSWORD_ROLE} LOGIN PASSWORD 'secret-pw'`);
        const withRole = new URL(url);
        withRole.username = PASSWORD_ROLE;
        const run = await runSync(['--destination', withRole.toString(), '--streams', 'usage'], { env: env() });
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/asks for a password for user "source_fal_pw" and none was given/);
        expect(run.stderr).toMatch(/PGPASSWORD/);
        expect(run.stderr).not.toMatch(/SASL|SCRAM/);
      },
    );

    it(
      'when an owner created the schema for a role without CREATE on the database then sync loads into it',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(pg.url, 'first_contact_owned');
        await pgQuery(pg.url, 'DROP ROLE IF EXISTS source_fal_loader').catch(() => undefined);
        await pgQuery(pg.url, 'CREATE ROLE source_fal_loader LOGIN');
        await pgQuery(url, 'CREATE SCHEMA fal AUTHORIZATION source_fal_loader');
        const asLoader = new URL(url);
        asLoader.username = 'source_fal_loader';
        const run = await runSync(['--destination', asLoader.toString(), '--streams', 'usage'], { env: env() });
        expect(run.code, run.stderr).toBe(0);
        expect(Number((await pgQuery(url, 'SELECT count(*) AS n FROM fal.usage'))[0]?.n)).toBeGreaterThan(0);
      },
    );

    it(
      'when the role may connect but not create a schema then sync names the GRANT that is missing, and nothing is written',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(pg.url, 'first_contact_grant');
        await pgQuery(pg.url, 'DROP ROLE IF EXISTS source_fal_reader').catch(() => undefined);
        await pgQuery(pg.url, 'CREATE ROLE source_fal_reader LOGIN');
        const asReader = new URL(url);
        asReader.username = 'source_fal_reader';
        const run = await runSync(['--destination', asReader.toString(), '--streams', 'usage'], { env: env() });
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(
          /does not let role "source_fal_reader" create schema fal in database "first_contact_grant"/,
        );
        expect(run.stderr).toContain('GRANT CREATE ON DATABASE "first_contact_grant" TO "source_fal_reader"');
        expect(await pgQuery(url, `SELECT 1 FROM pg_namespace WHERE nspname = 'fal'`)).toEqual([]);
      },
    );
  });
});

describe('given a new user who stops sync --demo half-way', () => {
  it(
    'when SIGTERM arrives after the first stream is done then it exits 143 and prints no sample query of a partial demo',
    { timeout: 120_000 },
    async () => {
      const cwd = tempDir('source-fal-demo-stop-');
      const child = spawn(process.execPath, [CLI, 'sync', '--demo'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', ...cliEnv() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (/ done: /.test(stderr) && child.exitCode === null && !child.killed) child.kill('SIGTERM');
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).toMatch(/ done: /);
      expect(code, stderr).toBe(143);
      expect(stdout).not.toMatch(/SELECT CAST/);
      expect(stderr).toMatch(/interrupted; every committed window is in the warehouse/);
    },
  );
});

describe('given usage whose last 7 days cross a daylight-saving change (US, 2026-11-01)', () => {
  it(
    'when the sample query runs in America/Los_Angeles then it covers the same 7 UTC days as in UTC',
    { timeout: 120_000 },
    async () => {
      const now = '2026-11-05T12:00:00Z';
      const emu = await startEmulator({ now, historyDays: 20 });
      try {
        const cwd = tempDir('source-fal-dst-');
        const run = await runSync(['--streams', 'usage'], {
          env: { ...cliEnv(now), FAL_ADMIN_KEY: ADMIN_KEY, FAL_BASE_URL: emu.url, FAL_START_DATE: '2026-10-20' },
          cwd,
        });
        expect(run.code, run.stderr).toBe(0);
        const days = async (zone: string): Promise<string[]> =>
          [...new Set((await duckQuery(join(cwd, 'fal.duckdb'), SAMPLE_QUERY, zone)).map((r) => String(r.day)))].sort();
        const utc = await days('UTC');
        expect(utc).toHaveLength(7);
        expect(await days(ZONE)).toEqual(utc);
      } finally {
        await emu.close();
      }
    },
  );
});
