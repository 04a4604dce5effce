/**
 * An interpreter of the FinOps Foundation's FOCUS 1.2 rule model (fixtures/focus/model-1.2.json, the rules of
 * https://github.com/finopsfoundation/focus_validator) over a table or view in DuckDB or PostgreSQL.
 *
 * - Applicability: a rule applies when the provider claims all its ApplicabilityCriteria and so does every
 *   composite rule above it; conditions accumulate from the composite rules above it (docs/focus.md lists the
 *   criteria fal data supports).
 * - Static rules are checked; Dynamic rules (201 of 621) carry no machine-checkable requirement in the model and
 *   are reported as not checkable.
 * - Row checks are SQL: no row that meets the rule's conditions may fail its requirement (a null requirement counts
 *   as failed, a null condition as not met). Column checks read the column's SQL type; format checks of text
 *   values run here on the distinct values.
 * - A failed MUST / MUST NOT rule is a failure; a failed SHOULD / SHOULD NOT / RECOMMENDED rule a warning; a MAY
 *   rule never fails.
 */
import { readFileSync } from 'node:fs';

import { z } from 'zod';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/focus/${name}`, import.meta.url), 'utf8');

type Check = {
  CheckFunction?: string;
  Items?: Check[];
  AND?: Check | Check[];
  OR?: Check | Check[];
  [argument: string]: unknown;
};

const CheckSchema: z.ZodType<Check> = z.lazy(() =>
  z
    .object({
      CheckFunction: z.string().optional(),
      Items: z.array(CheckSchema).optional(),
      AND: z.union([CheckSchema, z.array(CheckSchema)]).optional(),
      OR: z.union([CheckSchema, z.array(CheckSchema)]).optional(),
    })
    .catchall(z.unknown()),
);

const RuleSchema = z.object({
  Function: z.string(),
  Type: z.enum(['Static', 'Dynamic']),
  ApplicabilityCriteria: z.array(z.string()),
  ValidationCriteria: z.object({
    MustSatisfy: z.string(),
    Keyword: z.string(),
    Requirement: CheckSchema,
    Condition: CheckSchema.optional(),
  }),
});
type Rule = z.infer<typeof RuleSchema>;

const ModelSchema = z.object({
  ApplicabilityCriteria: z.record(z.string(), z.object({ Description: z.string() })),
  ModelRules: z.record(z.string(), RuleSchema),
});

type Verdict = 'pass' | 'fail' | 'warn' | 'not applicable' | 'not checkable';

interface RuleResult {
  readonly id: string;
  readonly keyword: string;
  readonly verdict: Verdict;
  readonly text: string;
  /** Why it failed, or why it was not checked. */
  readonly detail?: string;
  readonly sample?: Record<string, string | null>;
}

export interface FocusDataset {
  readonly dialect: 'duckdb' | 'postgres';
  /** The table or view, as SQL. */
  readonly relation: string;
  /** Column name → SQL type as the database reports it. */
  readonly columns: ReadonlyMap<string, string>;
  query(sql: string): Promise<Record<string, string | null>[]>;
}

const ROOT_RULE = 'CostAndUsage-D-000-M';

export function loadRuleModel(): { rules: Map<string, Rule>; criteria: string[] } {
  const model = ModelSchema.parse(JSON.parse(fixture('model-1.2.json')));
  return { rules: new Map(Object.entries(model.ModelRules)), criteria: Object.keys(model.ApplicabilityCriteria) };
}

const CURRENCIES = new Set(
  fixture('currency_codes.csv')
    .split(/\r?\n/)
    .slice(1)
    .map((line) => line.split(',')[1]?.trim() ?? '')
    .filter((code) => code !== ''),
);

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const literal = (value: unknown): string =>
  typeof value === 'number' ? String(value) : `'${String(value).replaceAll("'", "''")}'`;

/** The items of a check that combines others; the model also writes `{"AND": …}` without a CheckFunction. */
function combined(check: Check): { op: 'AND' | 'OR'; items: Check[] } | undefined {
  if (check.CheckFunction === 'AND' || check.CheckFunction === 'OR')
    return { op: check.CheckFunction, items: check.Items ?? [] };
  for (const op of ['AND', 'OR'] as const) {
    const inner = check[op];
    if (check.CheckFunction === undefined && inner !== undefined)
      return { op, items: Array.isArray(inner) ? inner : [inner] };
  }
  return undefined;
}

const isEmpty = (check: Check | undefined): boolean => check === undefined || Object.keys(check).length === 0;
const arg = (check: Check, name: string): string => String(check[name]);

/** Columns a check reads (to report a rule on an absent column as not applicable). */
function columnsOf(check: Check | undefined, out: Set<string> = new Set()): Set<string> {
  if (check === undefined) return out;
  const both = combined(check);
  if (both) for (const item of both.items) columnsOf(item, out);
  for (const key of ['ColumnName', 'ColumnAName', 'ColumnBName', 'ResultColumnName'])
    if (typeof check[key] === 'string') out.add(String(check[key]));
  return out;
}

class Interpreter {
  private readonly results = new Map<string, RuleResult>();

  constructor(
    private readonly rules: Map<string, Rule>,
    private readonly claimed: ReadonlySet<string>,
    private readonly data: FocusDataset,
  ) {}

  /** A row predicate in SQL, or undefined for checks that are not row checks. */
  private predicate(check: Check): string | undefined {
    const both = combined(check);
    if (both) {
      const parts = both.items.map((item) => this.predicate(item));
      if (parts.some((p) => p === undefined)) return undefined;
      return parts.length === 0 ? 'TRUE' : `(${parts.join(` ${both.op} `)})`;
    }
    const col = (name: string): string => quote(arg(check, name));
    switch (check.CheckFunction) {
      case 'CheckValue':
        return check.Value === null ? `${col('ColumnName')} IS NULL` : `${col('ColumnName')} = ${literal(check.Value)}`;
      case 'CheckNotValue':
        return check.Value === null
          ? `${col('ColumnName')} IS NOT NULL`
          : `(${col('ColumnName')} IS NULL OR ${col('ColumnName')} <> ${literal(check.Value)})`;
      case 'CheckSameValue':
        return `${col('ColumnAName')} = ${col('ColumnBName')}`;
      case 'CheckNotSameValue':
        return `${col('ColumnAName')} IS DISTINCT FROM ${col('ColumnBName')}`;
      case 'CheckGreaterOrEqualThanValue':
        return `${col('ColumnName')} >= ${literal(check.Value)}`;
      case 'FormatString':
        // StringHandling: no empty or blank strings where a value is given.
        return `(${col('ColumnName')} IS NULL OR trim(CAST(${col('ColumnName')} AS VARCHAR)) <> '')`;
      case 'ColumnByColumnEqualsColumnValue': {
        // The product, rounded to the result column's own type, equals the result.
        const type = this.data.columns.get(arg(check, 'ResultColumnName')) ?? 'DECIMAL(38,9)';
        return `CAST(${col('ColumnAName')} * ${col('ColumnBName')} AS ${type}) = ${col('ResultColumnName')}`;
      }
      default:
        return undefined;
    }
  }

  private where(conditions: readonly Check[]): string {
    const parts = conditions.map((c) => {
      const sql = this.predicate(c);
      if (sql === undefined) throw new Error(`a condition the interpreter cannot read: ${JSON.stringify(c)}`);
      return `coalesce(${sql}, FALSE)`;
    });
    return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
  }

  /** Checks one leaf requirement; returns a failure detail and sample, or undefined when it holds. */
  private async check(
    check: Check,
    conditions: readonly Check[],
  ): Promise<{ detail: string; sample?: Record<string, string | null> } | undefined> {
    const { relation, columns } = this.data;
    const name = typeof check.ColumnName === 'string' ? check.ColumnName : '';
    const type = columns.get(name) ?? '';
    const rowPredicate = this.predicate(check);
    if (rowPredicate !== undefined) {
      const [sample] = await this.data.query(
        `SELECT * FROM ${relation} WHERE ${this.where(conditions)} AND NOT coalesce(${rowPredicate}, FALSE) LIMIT 1`,
      );
      return sample === undefined ? undefined : { detail: 'a row breaks it', sample };
    }
    const distinctText = async (): Promise<string[]> =>
      (
        await this.data.query(
          `SELECT DISTINCT CAST(${quote(name)} AS VARCHAR) AS v FROM ${relation} WHERE ${this.where(conditions)} AND ${quote(name)} IS NOT NULL`,
        )
      ).map((row) => row.v ?? '');
    const firstBad = async (ok: (value: string) => boolean): Promise<string | undefined> =>
      (await distinctText()).find((value) => !ok(value));
    switch (check.CheckFunction) {
      case 'ColumnPresent':
        return columns.has(name) ? undefined : { detail: `column ${name} is absent` };
      case 'TypeDecimal':
        return /^(decimal|numeric)/i.test(type) ? undefined : { detail: `${name} is ${type}, not a decimal` };
      case 'TypeString':
        return /^(varchar|text|character varying)/i.test(type)
          ? undefined
          : { detail: `${name} is ${type}, not a string` };
      case 'TypeDateTime':
        return /^timestamp/i.test(type) ? undefined : { detail: `${name} is ${type}, not a date/time` };
      case 'FormatDateTime': {
        // A timestamp with time zone is an instant: it has no text format until exported (in UTC, ISO 8601).
        if (/^timestamp with time zone$|^timestamptz$/i.test(type)) return undefined;
        const bad = await firstBad((v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(v));
        return bad === undefined
          ? undefined
          : { detail: `${name} value ${JSON.stringify(bad)} is not YYYY-MM-DDTHH:mm:ssZ` };
      }
      case 'FormatNumeric':
      case 'CheckDecimalValue': {
        if (/^(decimal|numeric|integer|bigint|double)/i.test(type)) return undefined;
        const bad = await firstBad((v) => /^-?\d+(\.\d+)?([eE]-?\d+)?$/.test(v));
        return bad === undefined ? undefined : { detail: `${name} value ${JSON.stringify(bad)} is not a plain number` };
      }
      case 'FormatUnit': {
        // UnitFormat: "<unit>", "<quantity> <units>", "<units>/<interval>" or "<unit>-<interval>", capitalized.
        const unit = /^(\d+ )?[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)*(-[A-Z][a-z]+)?(\/[A-Z][a-z]+)?$/;
        const bad = await firstBad((v) => unit.test(v));
        return bad === undefined ? undefined : { detail: `${name} value ${JSON.stringify(bad)} is not in UnitFormat` };
      }
      case 'FormatKeyValue': {
        const bad = await firstBad((v) => {
          try {
            const parsed: unknown = JSON.parse(v);
            return (
              typeof parsed === 'object' &&
              parsed !== null &&
              !Array.isArray(parsed) &&
              Object.values(parsed).every((x) => x === null || typeof x !== 'object')
            );
          } catch {
            return false;
          }
        });
        return bad === undefined
          ? undefined
          : { detail: `${name} value ${JSON.stringify(bad)} is not a flat JSON object` };
      }
      case 'FormatCurrency':
      case 'CheckNationalCurrency': {
        const bad = await firstBad((v) => CURRENCIES.has(v));
        return bad === undefined
          ? undefined
          : { detail: `${name} value ${JSON.stringify(bad)} is not an ISO 4217 code` };
      }
      case 'CheckDistinctCount': {
        const a = quote(arg(check, 'ColumnAName'));
        const b = quote(arg(check, 'ColumnBName'));
        const [sample] = await this.data.query(
          `SELECT ${a} AS value, count(DISTINCT ${b}) AS n FROM ${relation} WHERE ${this.where(conditions)} AND ${a} IS NOT NULL GROUP BY ${a} HAVING count(DISTINCT ${b}) <> ${literal(check.ExpectedCount)} LIMIT 1`,
        );
        return sample === undefined
          ? undefined
          : {
              detail: `${arg(check, 'ColumnAName')} ${sample.value} has ${sample.n} distinct ${arg(check, 'ColumnBName')}`,
              sample,
            };
      }
      default:
        throw new Error(`check function ${String(check.CheckFunction)} is not interpreted`);
    }
  }

  async evaluate(id: string, applicable: boolean, conditions: readonly Check[]): Promise<RuleResult> {
    const done = this.results.get(id);
    if (done) return done;
    const rule = this.rules.get(id);
    if (!rule) throw new Error(`the model has no rule ${id}`);
    const {
      Keyword: keyword,
      MustSatisfy: text,
      Requirement: requirement,
      Condition: condition,
    } = rule.ValidationCriteria;
    const here = applicable && rule.ApplicabilityCriteria.every((c) => this.claimed.has(c));
    const own = isEmpty(condition) || condition === undefined ? conditions : [...conditions, condition];
    const result = (verdict: Verdict, extra: Partial<RuleResult> = {}): RuleResult => {
      const r: RuleResult = { id, keyword, verdict, text, ...extra };
      this.results.set(id, r);
      return r;
    };
    const both = combined(requirement);
    if (both && both.items.every((item) => item.CheckFunction === 'CheckModelRule')) {
      const children = [];
      for (const item of both.items) children.push(await this.evaluate(arg(item, 'ModelRuleId'), here, own));
      if (!here) return result('not applicable');
      const failed = children.filter((c) => c.verdict === 'fail');
      if (both.op === 'OR') {
        const holds = children.some((c) => c.verdict === 'pass') || failed.length < children.length;
        // An alternative that does not hold is no failure when another does.
        if (holds)
          for (const c of failed)
            this.results.set(c.id, {
              id: c.id,
              keyword: c.keyword,
              text: c.text,
              verdict: 'not applicable',
              detail: `an alternative of ${id}; another holds`,
            });
        return result(holds ? 'pass' : 'fail');
      }
      if (failed.length > 0)
        return result(/^MUST/.test(keyword) ? 'fail' : 'warn', {
          detail: `fails ${failed.map((c) => c.id).join(', ')}`,
        });
      return result(children.some((c) => c.verdict === 'pass' || c.verdict === 'warn') ? 'pass' : 'not checkable');
    }
    if (!here) return result('not applicable');
    if (rule.Type === 'Dynamic' || isEmpty(requirement)) return result('not checkable');
    const needs = [...columnsOf(requirement), ...own.flatMap((c) => [...columnsOf(c)])];
    const absent = needs.filter((c) => !this.data.columns.has(c));
    if (requirement.CheckFunction !== 'ColumnPresent' && absent.length > 0)
      return result('not applicable', { detail: `column ${absent.join(', ')} absent` });
    const failure = await this.check(requirement, own);
    if (failure === undefined) return result('pass');
    const severity: Verdict = /^MUST/.test(keyword) ? 'fail' : /^MAY$/.test(keyword) ? 'pass' : 'warn';
    return result(severity, failure);
  }

  all(): RuleResult[] {
    return [...this.results.values()];
  }
}

export interface ConformanceReport {
  readonly results: readonly RuleResult[];
  readonly counts: Readonly<Record<Verdict, number>>;
  /** Per rule: verdict, id and requirement; samples for failures; then a summary line. */
  text(): string;
}

/** Interprets every rule of the model, from the CostAndUsage dataset rule down, against one dataset. */
export async function checkFocusConformance(
  data: FocusDataset,
  claimed: ReadonlySet<string>,
): Promise<ConformanceReport> {
  const { rules } = loadRuleModel();
  const interpreter = new Interpreter(rules, claimed, data);
  await interpreter.evaluate(ROOT_RULE, true, []);
  // Rules no dataset rule reaches (the attribute rules, all Dynamic) are reported too.
  for (const id of rules.keys()) await interpreter.evaluate(id, true, []);
  const results = interpreter.all().sort((a, b) => a.id.localeCompare(b.id));
  const counts: Record<Verdict, number> = { pass: 0, fail: 0, warn: 0, 'not applicable': 0, 'not checkable': 0 };
  for (const r of results) counts[r.verdict] += 1;
  return {
    results,
    counts,
    text: () =>
      [
        ...results.map(
          (r) =>
            `${r.verdict.padEnd(14)} ${r.id.padEnd(38)} ${r.keyword.padEnd(11)} ${r.text}${r.detail ? ` [${r.detail}]` : ''}${r.sample ? `\n${' '.repeat(15)}sample: ${JSON.stringify(r.sample)}` : ''}`,
        ),
        `FOCUS 1.2 conformance of ${data.relation}: ${results.length} rules, ${counts.pass} pass, ${counts.fail} fail, ${counts.warn} warn (SHOULD), ${counts['not applicable']} not applicable, ${counts['not checkable']} not machine-checkable (Dynamic)`,
      ].join('\n'),
  };
}
