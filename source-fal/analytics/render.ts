/**
 * One SQL source of truth for the analytics layer: the dbt package in `dbt/` is what Airbyte users run on Snowflake
 * or BigQuery, and `sync` renders the same model files into views on DuckDB and PostgreSQL. This module is the
 * small part of dbt that rendering needs: Jinja (nunjucks, which reads dbt's Jinja subset the package uses),
 * `source()`, `ref()`, `var()`, `config()`, `adapter.dispatch()` over the package's own macros in `dbt/macros/`,
 * and the dbt cross-database macros listed in DBT_MACROS, implemented as dbt-postgres and dbt-duckdb do
 * (https://docs.getdbt.com/reference/dbt-jinja-functions/cross-database-macros). A model that calls anything else
 * fails to render, so the package cannot grow a dependency this file does not implement.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import nunjucks from 'nunjucks';

import { packageRoot } from '../schemas.js';

export type AnalyticsDialect = 'duckdb' | 'postgres';

export interface RenderTarget {
  readonly dialect: AnalyticsDialect;
  /** The relation dbt's `source(source_name, table)` names, as SQL. */
  source(sourceName: string, table: string): string;
  /** The relation dbt's `ref(model)` names, as SQL. */
  ref(model: string): string;
  /** dbt `var()` values; a model's `var('x', default)` falls back to its default. */
  readonly vars?: Readonly<Record<string, unknown>>;
}

/** The dbt package's folder (shipped with the product: `sync` renders its models). */
function dbtDir(): string {
  return join(packageRoot(), 'dbt');
}

/** Every model of the package by name (file stem), from dbt/models/ and its sub-folders. */
function modelFiles(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.sql')) found.set(entry.name.slice(0, -'.sql'.length), path);
    }
  };
  walk(join(dbtDir(), 'models'));
  return found;
}

/** A model's SQL for one warehouse, ready to be the body of a view. */
export function renderModel(name: string, target: RenderTarget): string {
  const path = modelFiles().get(name);
  if (path === undefined) throw new Error(`dbt/models has no model named ${name}; the installation is incomplete.`);
  return renderSql(readFileSync(path, 'utf8'), target, name);
}

type Macro = (...args: unknown[]) => unknown;

declare module 'nunjucks' {
  interface Template {
    /** Runs the template's top level and hands over what it defines (nunjucks' own API behind `{% import %}`). */
    getExported(
      context: object,
      frame: null,
      callback: (error: Error | null, exported: Record<string, unknown>) => void,
    ): void;
  }
}

/** dbt's cross-database macros the package may use, per warehouse (dbt-postgres 1.9 and dbt-duckdb 1.9 bodies). */
function dbtMacros(dialect: AnalyticsDialect): Record<string, Macro> {
  const text = (value: unknown): string => String(value);
  return {
    // https://docs.getdbt.com/reference/dbt-jinja-functions/cross-database-macros#date_trunc
    date_trunc: (datepart, date) => `date_trunc('${text(datepart)}', ${text(date)})`,
    // #dateadd: dbt-postgres multiplies an interval; dbt-duckdb uses date_add with an interval expression.
    dateadd: (datepart, interval, from) =>
      dialect === 'postgres'
        ? `${text(from)} + ((interval '1 ${text(datepart)}') * (${text(interval)}))`
        : `date_add(${text(from)}, interval (${text(interval)}) ${text(datepart)})`,
    // #cast and #safe_cast
    cast: (field, type) => `cast(${text(field)} as ${text(type)})`,
    safe_cast: (field, type) =>
      dialect === 'duckdb' ? `try_cast(${text(field)} as ${text(type)})` : `cast(${text(field)} as ${text(type)})`,
    // #concat: the default implementation is concat(a, b, …).
    concat: (fields) => `concat(${(Array.isArray(fields) ? fields : [fields]).map(text).join(', ')})`,
    // #string_literal
    string_literal: (value) => `'${text(value).replaceAll("'", "''")}'`,
    // #data-type-functions: dbt's Column type labels for both adapters.
    type_string: () => 'text',
    type_int: () => 'integer',
    type_bigint: () => 'bigint',
    type_boolean: () => 'boolean',
    type_numeric: () => 'numeric(28,6)',
  };
}

/** Renders one dbt SQL file (a model) for a warehouse. `name` is for error messages. */
function renderSql(template: string, target: RenderTarget, name = 'model'): string {
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });
  const vars = target.vars ?? {};
  let macros: Record<string, Macro> = {};
  env.addGlobal('dbt', dbtMacros(target.dialect));
  env.addGlobal('target', { type: target.dialect });
  // dbt's `{{ return(x) }}` ends a macro with a value; the package's macros only return at their end.
  env.addGlobal('return', (value: unknown) => value);
  env.addGlobal('config', () => '');
  env.addGlobal('source', (sourceName: string, table: string) => target.source(sourceName, table));
  env.addGlobal('ref', (model: string) => target.ref(model));
  env.addGlobal('var', (key: string, fallback?: unknown) => {
    if (key in vars) return vars[key];
    if (fallback !== undefined) return fallback;
    throw new Error(`${name}: dbt var('${key}') has no value and no default.`);
  });
  env.addGlobal('adapter', {
    // https://docs.getdbt.com/reference/dbt-jinja-functions/adapter#quote: both warehouses quote with ".
    quote: (identifier: string) => `"${identifier.replaceAll('"', '""')}"`,
    // https://docs.getdbt.com/reference/dbt-jinja-functions/dispatch: <adapter>__name, else default__name.
    dispatch: (macro: string) => {
      const found = macros[`${target.dialect}__${macro}`] ?? macros[`default__${macro}`];
      if (found === undefined)
        throw new Error(`${name}: no ${target.dialect}__${macro} or default__${macro} macro in dbt/macros.`);
      return found;
    },
  });
  macros = packageMacros(env);
  env.addGlobal('source_fal', macros);
  for (const [macroName, fn] of Object.entries(macros)) env.addGlobal(macroName, fn);
  try {
    return env.renderString(template, {}).trim();
  } catch (error) {
    throw new Error(
      `dbt model ${name} does not render for ${target.dialect}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** The package's macros (every `{% macro %}` in dbt/macros/*.sql), callable from models and from each other. */
function packageMacros(env: nunjucks.Environment): Record<string, Macro> {
  const dir = join(dbtDir(), 'macros');
  const text = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('\n');
  let exported: Record<string, unknown> | undefined;
  let failure: Error | null = null;
  // Synchronous: the package's macros use no async filters, so the callback runs before getExported returns.
  new nunjucks.Template(text, env).getExported({}, null, (error, result) => {
    failure = error;
    exported = result;
  });
  if (failure !== null) throw failure;
  if (exported === undefined) throw new Error('dbt/macros did not compile synchronously.');
  const macros: Record<string, Macro> = {};
  for (const [macroName, value] of Object.entries(exported)) {
    if (typeof value === 'function') macros[macroName] = (...args: unknown[]) => Reflect.apply(value, undefined, args);
  }
  return macros;
}
