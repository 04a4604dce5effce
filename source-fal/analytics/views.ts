/**
 * The analytics views `sync` keeps in every schema it loads: the dbt package's marts that answer FinOps questions
 * (docs/focus.md), rendered for the warehouse from the same files dbt users run, so the two cannot drift.
 */
import { type AnalyticsDialect, renderModel } from './render.js';

/** In dependency order: invoice_reconciliation reads focus_costs. */
const SYNC_VIEWS = ['focus_costs', 'invoice_reconciliation'] as const;

export interface ViewSql {
  readonly name: string;
  readonly sql: string;
}

export interface ViewTarget {
  readonly dialect: AnalyticsDialect;
  /** `"catalog"."schema"` or `"schema"`: the quoted prefix of the destination's tables. */
  readonly prefix: string;
  /** The fal account the schema holds (BillingAccountId). */
  readonly account: string;
}

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Every view's SELECT for one schema, and the stream tables they read (sync creates those that are missing). */
export function analyticsViews(target: ViewTarget): { views: ViewSql[]; sources: string[] } {
  const sources = new Set<string>();
  const views = SYNC_VIEWS.map((name) => ({
    name,
    sql: renderModel(name, {
      dialect: target.dialect,
      source: (_sourceName, table) => {
        sources.add(table);
        return `${target.prefix}.${quote(table)}`;
      },
      ref: (model) => `${target.prefix}.${quote(model)}`,
      vars: { source_fal_account: target.account },
    }),
  }));
  return { views, sources: [...sources] };
}

/** The statements that replace the views in one transaction: dependents are dropped first, then all re-created. */
export function replaceViewsSql(prefix: string, views: readonly ViewSql[]): string[] {
  return [
    ...[...views].reverse().map((view) => `DROP VIEW IF EXISTS ${prefix}.${quote(view.name)}`),
    ...views.map((view) => `CREATE VIEW ${prefix}.${quote(view.name)} AS\n${view.sql}`),
  ];
}
