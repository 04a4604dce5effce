/**
 * dbt's generic data tests without dbt: every `unique`, `not_null`, `relationships` and `accepted_values` test
 * declared in the package's YAML (sources and models), compiled to the query dbt runs for it and run on a test
 * warehouse. A test fails when its query returns rows, as in `dbt test`
 * (https://docs.getdbt.com/docs/build/data-tests#generic-data-tests; the SQL follows the built-in test macros of
 * https://github.com/dbt-labs/dbt-adapters, global_project/macros/generic_test_sql/).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse } from 'yaml';
import { z } from 'zod';

import type { TestWarehouse } from './sync.js';

const Test = z.union([
  z.string(),
  z.object({ relationships: z.object({ to: z.string(), field: z.string() }).loose() }),
  z.object({ accepted_values: z.object({ values: z.array(z.string()) }).loose() }),
]);
const Column = z.object({ name: z.string(), data_tests: z.array(Test).optional() }).loose();
const PropertiesFile = z
  .object({
    sources: z
      .array(z.object({ name: z.string(), tables: z.array(z.object({ name: z.string(), columns: z.array(Column) })) }))
      .optional(),
    models: z.array(z.object({ name: z.string(), columns: z.array(Column).optional() }).loose()).optional(),
  })
  .loose();

export interface DataTestResult {
  test: string;
  /** The relation tested, as SQL (schema.table). */
  relation: string;
  column: string;
  /** Rows the test's query returned: 0 is a pass. */
  failures: number;
}

const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`;
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * Runs every data test of the YAML files under `dbtDir` on `destination`: sources are read from schema `fal`,
 * models from schema `fal_dbt`. `relations` replaces the relation of a source table or model (by name).
 */
export async function runDataTests(
  wh: TestWarehouse,
  destination: string,
  dbtDir: string,
  relations: Readonly<Record<string, string>> = {},
): Promise<DataTestResult[]> {
  const relation = (schema: string, name: string): string => relations[name] ?? `${schema}.${quote(name)}`;
  const resolve = (to: string): string => {
    const source = /^source\('\w+',\s*'(\w+)'\)$/.exec(to);
    if (source?.[1] !== undefined) return relation('fal', source[1]);
    const ref = /^ref\('(\w+)'\)$/.exec(to);
    if (ref?.[1] !== undefined) return relation('fal_dbt', ref[1]);
    throw new Error(`relationships to ${to}: only source('…', '…') and ref('…') are understood here`);
  };
  const checks: { test: string; relation: string; column: string; sql: string }[] = [];
  const add = (table: string, column: z.infer<typeof Column>): void => {
    const col = quote(column.name);
    for (const test of column.data_tests ?? []) {
      if (test === 'unique')
        checks.push({
          test,
          relation: table,
          column: column.name,
          sql: `select ${col} from ${table} where ${col} is not null group by ${col} having count(*) > 1`,
        });
      else if (test === 'not_null')
        checks.push({
          test,
          relation: table,
          column: column.name,
          sql: `select ${col} from ${table} where ${col} is null`,
        });
      else if (typeof test === 'string')
        throw new Error(`data test ${test} on ${table}.${column.name} is not known here`);
      else if ('relationships' in test) {
        const parent = resolve(test.relationships.to);
        checks.push({
          test: 'relationships',
          relation: table,
          column: column.name,
          sql: `select child.from_field from (select ${col} as from_field from ${table} where ${col} is not null) child
                left join (select ${quote(test.relationships.field)} as to_field from ${parent}) parent
                on child.from_field = parent.to_field where parent.to_field is null`,
        });
      } else if ('accepted_values' in test)
        checks.push({
          test: 'accepted_values',
          relation: table,
          column: column.name,
          sql: `select ${col} from ${table} where ${col} not in (${test.accepted_values.values.map(literal).join(', ')})`,
        });
    }
  };
  const files = readdirSync(dbtDir, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.yml') && !f.endsWith('dbt_project.yml'),
  );
  for (const file of files) {
    const doc = PropertiesFile.parse(parse(readFileSync(join(dbtDir, file), 'utf8')));
    for (const source of doc.sources ?? [])
      for (const table of source.tables) for (const column of table.columns) add(relation('fal', table.name), column);
    for (const model of doc.models ?? [])
      for (const column of model.columns ?? []) add(relation('fal_dbt', model.name), column);
  }
  const results: DataTestResult[] = [];
  for (const check of checks) {
    const [row] = await wh.query(destination, `select count(*) as failures from (${check.sql}) failing`);
    results.push({ test: check.test, relation: check.relation, column: check.column, failures: Number(row?.failures) });
  }
  return results;
}
