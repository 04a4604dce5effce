/**
 * The dbt package (dbt/), tested without dbt (no Python package index where CI runs):
 * - its generated files equal what schemas/*.json generate (a new column fails until it is described);
 * - every YAML file validates against dbt Labs' JSON Schemas (fixtures/dbt-schemas/);
 * - every model renders for DuckDB and PostgreSQL (source-fal/analytics/render.ts, the renderer sync uses) and runs
 *   as a view on a warehouse `sync` loaded from the emulator; daily spend equals the emulator's ledger per UTC day
 *   in a UTC and a Los Angeles session, and the dbt focus_costs equals the view sync keeps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { Ajv } from 'ajv';
import nunjucks from 'nunjucks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { columnDescription, generatedDbtFiles, snake } from '../scripts/dbt-package.js';
import { renderModel } from '../source-fal/analytics/render.js';
import { ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import { REPO_ROOT, tempDir } from './helpers/cli.js';
import { runDataTests } from './helpers/dbt-tests.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { decimalToNano, duckdbWarehouse, postgresWarehouse, runSync, type TestWarehouse } from './helpers/sync.js';
import { sortedDays } from './helpers/totals.js';

const DBT = join(REPO_ROOT, 'dbt');

interface Freshness {
  warn_after: { count: number; period: 'minute' | 'hour' | 'day' };
  error_after: { count: number; period: 'minute' | 'hour' | 'day' };
}
const PERIOD_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const periodMs = (rule: Freshness['warn_after']): number => rule.count * PERIOD_MS[rule.period];
const ACCOUNT = 'acme-ml';
const START = '2026-10-20';
/** The organization root team ORG_ADMIN_KEY belongs to. */
const ORG_ROOT = 'acme';

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

const modelNames = (): string[] =>
  filesUnder(join(DBT, 'models'), '.sql').map((p) => p.split('/').at(-1)!.slice(0, -4));

/** Models in an order where each comes after the models it refs. */
function dependencyOrder(dialect: 'duckdb' | 'postgres'): string[] {
  const refs = new Map<string, string[]>();
  for (const name of modelNames()) {
    const used: string[] = [];
    renderModel(name, {
      dialect,
      source: (_s, table) => `"fal"."${table}"`,
      ref: (model) => {
        used.push(model);
        return `"x"."${model}"`;
      },
      vars: { source_fal_account: ACCOUNT },
    });
    refs.set(name, used);
  }
  const order: string[] = [];
  const visit = (name: string): void => {
    if (order.includes(name)) return;
    for (const dep of refs.get(name) ?? []) visit(dep);
    order.push(name);
  };
  for (const name of refs.keys()) visit(name);
  return order;
}

describe('given the dbt package in dbt/', () => {
  it('when the generated files are generated again from schemas/*.json then they equal the committed ones', () => {
    for (const [path, content] of generatedDbtFiles())
      expect(readFileSync(join(DBT, path), 'utf8'), `dbt/${path}: run npm run dbt:generate`).toBe(content);
    expect(generatedDbtFiles().size).toBe(ALL_STREAMS.length + 1);
  });

  it('when a column has no description then generation fails naming the stream and the column', () => {
    expect(() => columnDescription('usage', 'new_column', { type: 'string' })).toThrow(
      /schemas\/usage\.json: column new_column has no description/,
    );
    expect(snake('BillingPeriodStart')).toBe('billing_period_start');
    expect(snake('SkuPriceId')).toBe('sku_price_id');
    expect(snake('cost_total_nano_usd')).toBe('cost_total_nano_usd');
  });

  it('when every YAML file is validated against dbt Labs’ JSON Schemas then each one conforms', () => {
    const schema = (name: string): object =>
      JSON.parse(readFileSync(join(REPO_ROOT, 'integration_tests', 'fixtures', 'dbt-schemas', name), 'utf8'));
    const ajv = new Ajv({ strict: false, allErrors: true });
    const project = ajv.compile(schema('dbt_project-latest.json'));
    const properties = ajv.compile(schema('dbt_yml_files-latest.json'));
    const files = filesUnder(DBT, '.yml');
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const validate = file.endsWith('dbt_project.yml') ? project : properties;
      const ok = validate(parse(readFileSync(file, 'utf8')));
      expect(ok, `${relative(REPO_ROOT, file)}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
    }
  });

  it('when the sources file is read then every stream and column is described, keys are tested, and windowed tables have freshness', () => {
    const doc = parse(readFileSync(join(DBT, 'models', 'staging', '_fal__sources.yml'), 'utf8')) as {
      sources: {
        tables: { name: string; freshness?: unknown; columns: { name: string; data_tests?: unknown[] }[] }[];
      }[];
    };
    const tables = doc.sources[0]?.tables ?? [];
    expect(tables.map((t) => t.name)).toEqual(ALL_STREAMS.map((s) => s.name));
    const usage = tables.find((t) => t.name === 'usage');
    expect(usage?.freshness).toBeDefined();
    expect(usage?.columns.find((c) => c.name === 'id')?.data_tests).toEqual(['unique', 'not_null']);
    expect(JSON.stringify(usage?.columns.find((c) => c.name === 'api_key_id')?.data_tests)).toContain(
      "source('fal', 'api_keys')",
    );
    expect(tables.find((t) => t.name === 'api_keys')?.freshness).toBeUndefined();
  });
});

describe('given a warehouse sync loaded from the emulator', () => {
  let emu: Emulator;
  let pg: TestPostgres;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 60 });
    pg = await startTestPostgres();
  }, 120_000);
  afterAll(async () => {
    await emu?.close();
    await pg?.stop();
  });

  describe.each([
    ['DuckDB', (): TestWarehouse => duckdbWarehouse(tempDir('source-fal-dbt-'))],
    ['PostgreSQL', (): TestWarehouse => postgresWarehouse(pg.url)],
  ] as const)('when every dbt model is rendered for %s and created as a view in schema fal_dbt', (_name, make) => {
    let wh: TestWarehouse;
    let destination: string;
    let org: string;
    /** A fresh warehouse `sync` loaded with every stream for `key`, and every model as a view in schema fal_dbt. */
    const loadWithViews = async (name: string, key: string, account: string): Promise<string> => {
      const target = await wh.fresh(name);
      // Every stream: streams the key cannot read fail (exit 1) but their tables exist, as in Airbyte.
      const run = await runSync(['--destination', target, '--streams', ALL_STREAMS.map((s) => s.name).join(',')], {
        env: { ...cliEnv(), FAL_ADMIN_KEY: key, FAL_BASE_URL: emu.url, FAL_START_DATE: START },
        timeoutMs: 180_000,
      });
      expect([0, 1], run.stderr).toContain(run.code);
      const statements = ['CREATE SCHEMA IF NOT EXISTS fal_dbt'];
      for (const model of dependencyOrder(wh.dialect)) {
        const sql = renderModel(model, {
          dialect: wh.dialect,
          source: (_s, table) => `"fal"."${table}"`,
          ref: (ref) => `"fal_dbt"."${ref}"`,
          vars: { source_fal_account: account },
        });
        statements.push(`CREATE VIEW "fal_dbt"."${model}" AS ${sql}`);
      }
      for (const statement of statements) await wh.query(target, statement);
      return target;
    };
    beforeAll(async () => {
      wh = make();
      destination = await loadWithViews('dbt_models', ADMIN_KEY, ACCOUNT);
      org = await loadWithViews('dbt_models_org', ORG_ADMIN_KEY, ORG_ROOT);
    }, 600_000);

    it('then every model answers a query', async () => {
      for (const model of modelNames()) {
        const rows = await wh.query(destination, `SELECT count(*) AS n FROM fal_dbt."${model}"`);
        expect(rows[0]?.n, model).toBeDefined();
      }
      const usage = await wh.query(destination, 'SELECT count(*) AS n FROM fal_dbt.stg_fal__usage');
      expect(Number(usage[0]?.n)).toBeGreaterThan(100);
    });

    it.for(['UTC', 'America/Los_Angeles'] as const)(
      'then in a %s session fal_daily_spend_by_endpoint per day equals the emulator’s ledger to the nano-dollar',
      async (zone) => {
        const rows = await wh.query(
          destination,
          `SELECT CAST(day AS VARCHAR) AS day, sum(cost_usd) AS usd, sum(cost_nano_usd) AS nano
             FROM fal_dbt.fal_daily_spend_by_endpoint GROUP BY 1 ORDER BY 1`,
          zone,
        );
        const truth = [...emu.truth.usageNanoByDay(ACCOUNT, new Date(`${START}T00:00:00Z`), new Date(FIXED_NOW))].sort(
          ([a], [b]) => a.localeCompare(b),
        );
        expect(rows.map((r) => [String(r.day).slice(0, 10), decimalToNano(String(r.usd))])).toEqual(truth);
        expect(rows.map((r) => BigInt(String(r.nano)))).toEqual(truth.map(([, nano]) => nano));
      },
    );

    it('then the dbt focus_costs and invoice_reconciliation hold exactly the rows of the views sync keeps', async () => {
      for (const view of ['focus_costs', 'invoice_reconciliation']) {
        const diff = await wh.query(
          destination,
          `SELECT (SELECT count(*) FROM (SELECT * FROM fal."${view}" EXCEPT SELECT * FROM fal_dbt."${view}") a) AS extra,
                  (SELECT count(*) FROM (SELECT * FROM fal_dbt."${view}" EXCEPT SELECT * FROM fal."${view}") b) AS missing,
                  (SELECT count(*) FROM fal."${view}") AS n`,
        );
        expect(diff[0], view).toEqual({ extra: '0', missing: '0', n: diff[0]?.n });
        expect(Number(diff[0]?.n), view).toBeGreaterThan(0);
      }
    });

    it('then spend by API key adds up to spend by endpoint, and names keys by alias', async () => {
      const [byKey] = await wh.query(
        destination,
        'SELECT sum(cost_nano_usd) AS n FROM fal_dbt.fal_daily_spend_by_api_key',
      );
      const [byEndpoint] = await wh.query(
        destination,
        'SELECT sum(cost_nano_usd) AS n FROM fal_dbt.fal_daily_spend_by_endpoint',
      );
      expect(byKey?.n).toBe(byEndpoint?.n);
      const names = await wh.query(destination, 'SELECT DISTINCT key_name FROM fal_dbt.fal_daily_spend_by_api_key');
      expect(names.map((r) => r.key_name)).toContain('Production Key');
    });

    it('then fal_daily_spend_by_api_key per UTC day and key equals the emulator’s ledger, in a Los Angeles session', async () => {
      const rows = await wh.query(
        destination,
        `SELECT CAST(day AS VARCHAR) AS day, api_key_id, sum(cost_nano_usd) AS nano
           FROM fal_dbt.fal_daily_spend_by_api_key GROUP BY 1, 2`,
        'America/Los_Angeles',
      );
      const truth = new Map<string, bigint>();
      for (const event of emu.truth.events(ACCOUNT, new Date(`${START}T00:00:00Z`), new Date(FIXED_NOW))) {
        const cell = `${event.timestamp.slice(0, 10)} ${event.auth_method_structured.api_key_id ?? '-'}`;
        truth.set(cell, (truth.get(cell) ?? 0n) + BigInt(event.cost_total_nano));
      }
      const got = new Map(
        rows.map((r) => [`${String(r.day).slice(0, 10)} ${r.api_key_id ?? '-'}`, BigInt(String(r.nano))]),
      );
      expect(sortedDays(got)).toEqual(sortedDays(truth));
      expect(new Set(rows.map((r) => r.api_key_id)).size).toBeGreaterThan(2);
    });

    it('then for an organization root key fal_daily_spend_by_team per UTC day, team and product equals the ledger, in a Los Angeles session', async () => {
      const rows = await wh.query(
        org,
        `SELECT CAST(day AS VARCHAR) AS day, team, team_name, product, sum(cost_usd) AS usd, sum(cost_nano_usd) AS nano
           FROM fal_dbt.fal_daily_spend_by_team GROUP BY 1, 2, 3, 4`,
        'America/Los_Angeles',
      );
      const truth = new Map<string, bigint>();
      const teams = emu.truth.teams(ORG_ROOT);
      for (const team of teams)
        for (const product of ['model_apis', 'serverless', 'compute'] as const)
          for (const [day, nano] of emu.truth.orgUsageNanoByDay(
            team.username,
            product,
            new Date(`${START}T00:00:00Z`),
            new Date(FIXED_NOW),
          ))
            if (nano !== 0n) truth.set(`${day} ${team.username} ${product}`, nano);
      const cell = (r: Record<string, string | null>): string => `${String(r.day).slice(0, 10)} ${r.team} ${r.product}`;
      expect(sortedDays(new Map(rows.map((r) => [cell(r), BigInt(String(r.nano))])))).toEqual(sortedDays(truth));
      expect(sortedDays(new Map(rows.map((r) => [cell(r), decimalToNano(String(r.usd))])))).toEqual(sortedDays(truth));
      expect(new Set(rows.map((r) => r.team_name))).toEqual(new Set(teams.map((t) => t.name)));
      expect(new Set(rows.map((r) => r.product))).toEqual(new Set(['model_apis', 'serverless', 'compute']));
    });

    it.for([
      ['an account key', () => destination],
      ['an organization root key', () => org],
    ] as const)(
      'then with %s every data test the package declares passes as dbt compiles it (sources and marts)',
      async ([, target]) => {
        const results = await runDataTests(wh, target(), DBT);
        expect(results.filter((r) => r.failures !== 0)).toEqual([]);
        expect(results.filter((r) => r.test === 'relationships').length).toBe(4);
        expect(results.length).toBeGreaterThan(25);
      },
    );

    it('then a duplicated key makes the unique test fail (the test runner is not vacuous)', async () => {
      await wh.query(
        destination,
        'CREATE OR REPLACE VIEW fal_dbt.usage_twice AS SELECT * FROM fal.usage UNION ALL SELECT * FROM fal.usage',
      );
      const results = await runDataTests(wh, destination, DBT, { usage: 'fal_dbt.usage_twice' });
      const unique = results.find((r) => r.test === 'unique' && r.relation === 'fal_dbt.usage_twice');
      expect(unique?.failures).toBeGreaterThan(100);
    });

    it('then every column the marts document exists, and the daily spend marts document all their columns', async () => {
      const documented = parse(readFileSync(join(DBT, 'models', 'marts', '_marts.yml'), 'utf8')) as {
        models: { name: string; columns?: { name: string }[] }[];
      };
      for (const model of documented.models) {
        const rows = await wh.query(
          destination,
          `SELECT column_name FROM information_schema.columns WHERE table_schema = 'fal_dbt' AND table_name = '${model.name}'`,
        );
        const actual = rows.map((r) => String(r.column_name)).sort();
        const names = (model.columns ?? []).map((c) => c.name).sort();
        if (model.name.startsWith('fal_daily_spend_')) expect(names, model.name).toEqual(actual);
        else for (const name of names) expect(actual, model.name).toContain(name);
      }
    });

    it('then each freshness query dbt would run finds a freshly synced table within its warn_after', async () => {
      const doc = parse(readFileSync(join(DBT, 'models', 'staging', '_fal__sources.yml'), 'utf8')) as {
        sources: { tables: { name: string; loaded_at_field?: string; freshness?: Freshness }[] }[];
      };
      const checked: string[] = [];
      for (const table of doc.sources[0]?.tables ?? []) {
        if (table.loaded_at_field === undefined || table.freshness === undefined) continue;
        // dbt renders loaded_at_field with its YAML context (https://docs.getdbt.com/reference/dbt-jinja-functions/dbt-properties-yml-context).
        const field = new nunjucks.Environment(null, { autoescape: false }).renderString(table.loaded_at_field, {
          target: { type: wh.dialect },
        });
        for (const target of [destination, org]) {
          const [row] = await wh.query(
            target,
            `SELECT CAST(max(${field}) AS VARCHAR) AS max_loaded_at FROM fal."${table.name}"`,
          );
          if (row?.max_loaded_at === null || row?.max_loaded_at === undefined) continue;
          const ageMs =
            Date.parse(FIXED_NOW) - Date.parse(row.max_loaded_at.replace(' ', 'T').replace(/\+00(:00)?$/, 'Z'));
          expect(ageMs, `${table.name}: ${row.max_loaded_at}`).toBeLessThan(periodMs(table.freshness.warn_after));
          expect(periodMs(table.freshness.warn_after)).toBeLessThan(periodMs(table.freshness.error_after));
          checked.push(table.name);
        }
      }
      expect(new Set(checked)).toEqual(new Set(ALL_STREAMS.filter((s) => s.kind === 'incremental').map((s) => s.name)));
    });
  });

  describe.each([
    ['DuckDB', (): TestWarehouse => duckdbWarehouse(tempDir('source-fal-dbt-tf-'))],
    ['PostgreSQL', (): TestWarehouse => postgresWarehouse(pg.url)],
  ] as const)(
    'when usage is synced into %s by day, then by hour a day later (usage_granularity changed)',
    (_name, make) => {
      const before = '2026-11-24T12:34:56Z';
      let wh: TestWarehouse;
      let target: string;
      let emu2: Emulator;
      beforeAll(async () => {
        wh = make();
        target = await wh.fresh('dbt_timeframes');
        emu2 = await startEmulator({ now: before, historyDays: 60 });
        const sync = async (now: string, granularity: string): Promise<void> => {
          const run = await runSync(['--destination', target, '--streams', 'usage,api_keys'], {
            env: {
              ...cliEnv(now),
              FAL_ADMIN_KEY: ADMIN_KEY,
              FAL_BASE_URL: emu2.url,
              FAL_START_DATE: START,
              FAL_USAGE_GRANULARITY: granularity,
            },
            timeoutMs: 180_000,
          });
          expect(run.code, run.stderr).toBe(0);
        };
        await sync(before, 'day');
        emu2.setNow(FIXED_NOW);
        await sync(FIXED_NOW, 'hour');
        await wh.query(target, 'CREATE SCHEMA IF NOT EXISTS fal_dbt');
        for (const model of [
          'stg_fal__usage',
          'stg_fal__api_keys',
          'fal_daily_spend_by_endpoint',
          'fal_daily_spend_by_api_key',
          'focus_costs',
        ])
          await wh.query(
            target,
            `CREATE VIEW "fal_dbt"."${model}" AS ${renderModel(model, {
              dialect: wh.dialect,
              source: (_s, table) => `"fal"."${table}"`,
              ref: (ref) => `"fal_dbt"."${ref}"`,
              vars: { source_fal_account: ACCOUNT },
            })}`,
          );
      }, 400_000);
      afterAll(async () => {
        await emu2?.close();
      });

      it('then the table holds both bucket sizes for the re-read days, and daily spend counts each day once: equal to the ledger', async () => {
        const mixed = await wh.query(
          target,
          `SELECT CAST(CAST(bucket AT TIME ZONE 'UTC' AS DATE) AS VARCHAR) AS day FROM fal.usage
          GROUP BY 1 HAVING count(DISTINCT timeframe) = 2`,
        );
        expect(mixed.length).toBeGreaterThanOrEqual(3);
        const rows = await wh.query(
          target,
          `SELECT CAST(day AS VARCHAR) AS day, sum(cost_nano_usd) AS nano FROM fal_dbt.fal_daily_spend_by_endpoint GROUP BY 1`,
          'America/Los_Angeles',
        );
        const truth = emu2.truth.usageNanoByDay(ACCOUNT, new Date(`${START}T00:00:00Z`), new Date(FIXED_NOW));
        expect(sortedDays(new Map(rows.map((r) => [String(r.day).slice(0, 10), BigInt(String(r.nano))])))).toEqual(
          sortedDays(truth),
        );
        const [byKey] = await wh.query(
          target,
          'SELECT sum(cost_nano_usd) AS n FROM fal_dbt.fal_daily_spend_by_api_key',
        );
        expect(BigInt(String(byKey?.n))).toBe([...truth.values()].reduce((a, b) => a + b, 0n));
        // focus_costs (the view sync keeps) counts each day once too.
        const focus = await wh.query(
          target,
          `SELECT CAST(CAST("ChargePeriodStart" AT TIME ZONE 'UTC' AS DATE) AS VARCHAR) AS day, sum("x_BilledCostNanoUsd") AS nano
             FROM fal_dbt.focus_costs GROUP BY 1`,
          'America/Los_Angeles',
        );
        expect(sortedDays(new Map(focus.map((r) => [String(r.day).slice(0, 10), BigInt(String(r.nano))])))).toEqual(
          sortedDays(truth),
        );
      });
    },
  );
});
