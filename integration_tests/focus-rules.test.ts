/**
 * The FOCUS rule interpreter itself (helpers/focus-rules.ts): it must fail a dataset that breaks the rules, for the
 * reasons the rules give, or the conformance test would prove nothing.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkFocusConformance, type ConformanceReport, loadRuleModel } from './helpers/focus-rules.js';

const CLAIMED = new Set(['USAGE_MEASUREMENT_SUPPORTED', 'UNIT_PRICING_SUPPORTED', 'PUBLIC_PRICE_LIST_SUPPORTED']);

/** One usage row that conforms, and one that breaks several rules, in an in-memory DuckDB table. */
const TABLE = `CREATE TABLE focus AS SELECT * FROM (VALUES
  (CAST(1.5 AS DECIMAL(38,9)), 'acct', 'Account', 'USD', TIMESTAMPTZ '2026-11-01 00:00:00+00', TIMESTAMPTZ '2026-10-01 00:00:00+00',
   'Usage', CAST(NULL AS VARCHAR), 'Images', 'Usage-Based', TIMESTAMPTZ '2026-10-02 00:00:00+00', TIMESTAMPTZ '2026-10-01 00:00:00+00',
   CAST(3 AS DECIMAL(38,9)), 'Images', CAST(1.5 AS DECIMAL(38,9)), CAST(1.5 AS DECIMAL(38,9)), 'fal', CAST(1.5 AS DECIMAL(38,9)),
   CAST(0.5 AS DECIMAL(38,9)), CAST(3 AS DECIMAL(38,9)), 'Images', 'fal', 'fal', 'AI and Machine Learning', 'fal Model APIs',
   'ep', 'Model inference', 'ep|image|0.5', CAST(NULL AS VARCHAR)),
  (CAST(NULL AS DECIMAL(38,9)), 'acct', 'Account', 'US$', TIMESTAMPTZ '2026-11-01 00:00:00+00', TIMESTAMPTZ '2026-10-01 00:00:00+00',
   'Bogus', 'Correction', 'Images', 'Usage-Based', TIMESTAMPTZ '2026-10-02 00:00:00+00', TIMESTAMPTZ '2026-10-01 00:00:00+00',
   CAST(3 AS DECIMAL(38,9)), 'images', CAST(1.5 AS DECIMAL(38,9)), CAST(1.5 AS DECIMAL(38,9)), 'fal', CAST(9 AS DECIMAL(38,9)),
   CAST(0.5 AS DECIMAL(38,9)), CAST(3 AS DECIMAL(38,9)), 'Images', 'fal', 'fal', 'Snacks', 'fal Model APIs',
   'ep', 'Model inference', 'ep|image|0.5', '')
) AS t("BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
       "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
       "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
       "ListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
       "SkuId", "SkuMeter", "SkuPriceId", "SkuPriceDetails")`;

describe('given the FinOps Foundation rule model and a FOCUS table in DuckDB', () => {
  let instance: DuckDBInstance;
  const reportOf = async (where: string): Promise<ConformanceReport> => {
    const connection = await instance.connect();
    const relation = `(SELECT * FROM focus WHERE ${where})`;
    const types = (await connection.runAndReadAll(`DESCRIBE focus`)).getRowObjectsJson();
    const columns = new Map(types.map((row) => [String(row.column_name), String(row.column_type)]));
    return checkFocusConformance(
      {
        dialect: 'duckdb',
        relation,
        columns,
        query: async (sql) =>
          (await connection.runAndReadAll(sql))
            .getRowObjectsJson()
            .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)]))),
      },
      CLAIMED,
    );
  };
  const verdict = (report: ConformanceReport, id: string): string | undefined =>
    report.results.find((r) => r.id === id)?.verdict;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    await (await instance.connect()).run(TABLE);
  });
  afterAll(() => instance.closeSync());

  it('when the model is loaded then it holds the 621 rules over the documented criteria', () => {
    const { rules, criteria } = loadRuleModel();
    expect(rules.size).toBe(621);
    expect(criteria).toContain('SUB_ACCOUNT_SUPPORTED');
  });

  it('when the table holds the conforming row only then no MUST rule fails', async () => {
    const report = await reportOf(`"ChargeCategory" = 'Usage'`);
    expect(report.results.filter((r) => r.verdict === 'fail').map((r) => r.id)).toEqual([]);
    expect(report.counts.pass).toBeGreaterThan(100);
    expect(verdict(report, 'ListCost-C-009-C')).toBe('pass');
  });

  it('when a row breaks rules then each broken rule fails with a sample row, and its composites with it', async () => {
    const report = await reportOf('TRUE');
    expect(verdict(report, 'BilledCost-C-003-M')).toBe('fail'); // null BilledCost
    expect(verdict(report, 'ChargeCategory-C-003-M')).toBe('fail'); // not an allowed value
    expect(verdict(report, 'ServiceCategory-C-003-M')).toBe('fail');
    expect(verdict(report, 'BillingCurrency-C-000-M')).toBe('fail'); // US$ is not ISO 4217
    expect(verdict(report, 'ListCost-C-009-C')).toBe('pass'); // the correction row is exempt
    expect(verdict(report, 'SkuPriceDetails-C-001-M')).toBe('fail'); // '' is not a JSON object
    expect(verdict(report, 'ConsumedUnit-C-003-O')).toBe('warn'); // SHOULD: 'images' is not UnitFormat
    expect(verdict(report, 'CostAndUsage-D-000-M')).toBe('fail');
    expect(report.results.find((r) => r.id === 'BilledCost-C-003-M')?.sample?.ChargeCategory).toBe('Bogus');
    // Criteria not claimed make their rules not applicable (region columns are absent and not required).
    expect(verdict(report, 'RegionId-C-000-C')).toBe('not applicable');
    expect(report.text()).toMatch(/FOCUS 1\.2 conformance of .*: 621 rules, \d+ pass, [1-9]\d* fail/);
  });
});
