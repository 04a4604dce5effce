import { describe, expect, it } from 'vitest';

import { renderModel, type RenderTarget } from './render.js';
import { analyticsViews, replaceViewsSql } from './views.js';

const target = (dialect: RenderTarget['dialect'], vars: Record<string, unknown> = {}): RenderTarget => ({
  dialect,
  source: (sourceName, table) => `"${sourceName}"."${table}"`,
  ref: (model) => `"fal"."${model}"`,
  vars,
});

describe('given the dbt package shipped with source-fal', () => {
  it('when focus_costs is rendered for DuckDB and PostgreSQL then the sources, quoting and dispatched macros are resolved per warehouse', () => {
    const duck = renderModel('focus_costs', target('duckdb', { source_fal_account: "o'brien" }));
    const pg = renderModel('focus_costs', target('postgres', { source_fal_account: "o'brien" }));
    for (const sql of [duck, pg]) {
      expect(sql).toContain('from "fal"."usage" as u');
      expect(sql).toContain(`'o''brien' as "BillingAccountId"`);
      expect(sql).not.toMatch(/\{\{|\{%/);
    }
    // money_type dispatches: decimal in DuckDB, numeric in PostgreSQL; hours are added as dbt-duckdb / dbt-postgres do.
    expect(duck).toContain('decimal(38,9)');
    expect(duck).toContain('date_add(bucket, interval (24) hour)');
    expect(pg).toContain('numeric(38,9)');
    expect(pg).toContain("bucket + ((interval '1 hour') * (24))");
    expect(pg).not.toContain('decimal(38,9)');
  });

  it('when a model needs a var nobody set then rendering fails naming the var', () => {
    expect(() => renderModel('focus_costs', target('duckdb'))).toThrow(/var\('source_fal_account'\) has no value/);
  });

  it('when sync asks for its views then it gets focus_costs before invoice_reconciliation, and the tables they read', () => {
    const { views, sources } = analyticsViews({ dialect: 'postgres', prefix: '"fal_acme"', account: 'acme' });
    expect(views.map((v) => v.name)).toEqual(['focus_costs', 'invoice_reconciliation']);
    expect(views[1]?.sql).toContain('from "fal_acme"."focus_costs"');
    expect(new Set(sources)).toEqual(new Set(['usage', 'serverless_usage', 'org_usage', 'billing_events', 'invoices']));
    // Dependents are dropped before what they depend on, then everything is created in order.
    expect(replaceViewsSql('"fal_acme"', views).map((s) => s.split('\n')[0])).toEqual([
      'DROP VIEW IF EXISTS "fal_acme"."invoice_reconciliation"',
      'DROP VIEW IF EXISTS "fal_acme"."focus_costs"',
      'CREATE VIEW "fal_acme"."focus_costs" AS',
      'CREATE VIEW "fal_acme"."invoice_reconciliation" AS',
    ]);
  });
});
