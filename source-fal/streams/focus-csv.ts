/**
 * fal's FOCUS CSV: RFC 4180 text whose columns are FOCUS specification names in PascalCase.
 * Which FOCUS version fal follows and its full column set are unknown, so every column is kept under the name fal
 * sends; the ones whose FOCUS meaning is known are typed: decimals → numbers, date/times
 * → RFC 3339 UTC, JSON columns → objects, and an empty field → null (FOCUS has no empty strings, only nulls).
 * Unknown columns stay strings. What every FOCUS stream (invoices, org_focus, focus_estimates) shares is here:
 * the parser, the typing, the records with their digest ids, and the error for a refused report.
 */
import { parse } from 'csv-parse';
import { z } from 'zod';

import { ConfigError, ResponseShapeError } from '../errors.js';
import type { TextResponse } from '../http/client.js';
import { usdTextToNano } from '../money.js';
import { normalizeTimestamp } from '../time.js';
import { digestId } from './record-id.js';
import type { StreamRecord } from './stream.js';

/** FOCUS Decimal columns (costs, prices, quantities), FOCUS 1.0–1.3. */
const DECIMAL_COLUMNS: ReadonlySet<string> = new Set([
  'BilledCost',
  'EffectiveCost',
  'ListCost',
  'ContractedCost',
  'ListUnitPrice',
  'ContractedUnitPrice',
  'PricingQuantity',
  'ConsumedQuantity',
  'CommitmentDiscountQuantity',
  'PricingCurrencyListUnitPrice',
  'PricingCurrencyContractedUnitPrice',
  'PricingCurrencyEffectiveCost',
]);

/** FOCUS columns holding a JSON object. */
const JSON_COLUMNS: ReadonlySet<string> = new Set(['Tags', 'SkuPriceDetails']);

/** FOCUS Date/Time columns: BillingPeriodStart/End, ChargePeriodStart/End and any later `…PeriodStart/End`. */
function isPeriodColumn(name: string): boolean {
  return name.endsWith('PeriodStart') || name.endsWith('PeriodEnd');
}

/** A value fal sent that does not have its column's FOCUS type. */
export class FocusValueError extends Error {}

/** The typed value of one field: null for an empty field, else per the column's FOCUS type (strings otherwise). */
function focusValue(column: string, text: string): unknown {
  if (text === '') return null;
  if (DECIMAL_COLUMNS.has(column)) {
    // Number('') and Number(' ') are 0, and Number('0x10') is 16: only plain decimal text is a FOCUS decimal.
    const value = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(value))
      throw new FocusValueError(`${column} is ${JSON.stringify(text)}, not a decimal number`);
    return value;
  }
  if (isPeriodColumn(column)) {
    try {
      return normalizeTimestamp(text.trim());
    } catch {
      throw new FocusValueError(`${column} is ${JSON.stringify(text)}, not a date/time`);
    }
  }
  if (JSON_COLUMNS.has(column)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new FocusValueError(`${column} is not JSON: ${JSON.stringify(text.slice(0, 100))}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new FocusValueError(`${column} is not a JSON object: ${JSON.stringify(text.slice(0, 100))}`);
    return value;
  }
  return text;
}

interface FocusLine {
  /** The header, exactly as sent (a BOM removed). */
  readonly columns: readonly string[];
  /** The raw field texts of this line, one per column. */
  readonly values: readonly string[];
  /** The CSV line (1-based) on which this record ends, for messages. */
  readonly line: number;
}

/**
 * The lines of a FOCUS CSV in order, through csv-parse's streaming parser (quoted commas, doubled quotes and
 * newlines inside fields; a ragged row or an unclosed quote is an error, never a silently shifted column).
 * Throws FocusValueError for a missing or repeated header name and csv-parse's CsvError for malformed text.
 */
/** What csv-parse yields with `info: true` (its typings say `any`). */
const ParsedLine = z.object({ record: z.array(z.string()), info: z.object({ lines: z.number() }) });

async function* focusLines(text: string): AsyncGenerator<FocusLine> {
  const parser = parse({ bom: true, skip_empty_lines: true, info: true });
  parser.end(text);
  let columns: string[] | undefined;
  for await (const raw of parser) {
    const item = ParsedLine.parse(raw);
    if (columns === undefined) {
      columns = item.record;
      const seen = new Set<string>();
      for (const name of columns) {
        if (name === '') throw new FocusValueError('the header has an empty column name');
        if (seen.has(name)) throw new FocusValueError(`the header names column ${JSON.stringify(name)} twice`);
        seen.add(name);
      }
      continue;
    }
    yield { columns, values: item.record, line: item.info.lines };
  }
  if (columns === undefined) throw new FocusValueError('the CSV is empty, without even a header');
}

/**
 * FOCUS measures: a line's amounts and quantities, as opposed to the columns that say what the line is. An estimate
 * line's measures grow during its day and "may change once invoiced" (https://fal.ai/docs/platform-apis/v1/account/focus),
 * so they stay out of an estimate's id: a re-read updates the row instead of adding one.
 */
export const MEASURE_COLUMNS: ReadonlySet<string> = new Set([
  'BilledCost',
  'EffectiveCost',
  'ListCost',
  'ContractedCost',
  'PricingQuantity',
  'ConsumedQuantity',
  'CommitmentDiscountQuantity',
  'PricingCurrencyEffectiveCost',
]);

/** Records per page handed to the sink; a report is small, this only bounds memory for a very long one. */
const PAGE_SIZE = 1_000;

/** One FOCUS CSV response and what a stream makes of its lines. */
export interface FocusReport {
  readonly text: string;
  /** What the CSV is, for messages: `FOCUS invoice CSV for billing month 2026-11`. */
  readonly what: string;
  readonly endpoint: string;
  readonly requestId: string | undefined;
  /** Columns left out of a line's identity (MEASURE_COLUMNS for estimates); none by default. */
  readonly unstable?: ReadonlySet<string>;
  /** The leading parts of a line's id, from its typed columns. */
  idParts(record: StreamRecord): readonly unknown[];
  /** Sets the stream's own columns; throws FocusValueError for a line the stream cannot keep. */
  complete(record: StreamRecord): void;
}

/**
 * Pages of records, one per CSV line: every column under fal's name, typed per FOCUS, plus `id` (a digest of the
 * stream's id parts and every identifying column's raw text, with the line's ordinal among lines identical in those,
 * so the same report read again gives the same ids and two identical lines stay two rows) and
 * `billed_cost_nano_usd` (BilledCost as exact integer nano-USD, from the decimal text). Any unreadable line fails
 * the whole report with a ResponseShapeError naming it: a skipped line would under-count spend without a word.
 */
export async function* focusPages(report: FocusReport): AsyncGenerator<StreamRecord[]> {
  const seen = new Map<string, number>();
  let page: StreamRecord[] = [];
  let line: FocusLine | undefined;
  let billedIndex = -1;
  try {
    for await (line of focusLines(report.text)) {
      const { columns, values } = line;
      if (billedIndex < 0) {
        // BilledCost is what an invoice totals on (FOCUS: its sum per InvoiceId is the amount payable).
        billedIndex = columns.indexOf('BilledCost');
        if (billedIndex < 0) throw new FocusValueError('the header has no BilledCost column');
      }
      const record: StreamRecord = {};
      const fields: [string, string][] = [];
      for (const [i, name] of columns.entries()) {
        const raw = values[i] ?? '';
        record[name] = focusValue(name, raw);
        if (report.unstable?.has(name) !== true) fields.push([name, raw]);
      }
      // Identity from the raw text, independent of column order and of how we type the values.
      const content = JSON.stringify(fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const ordinal = seen.get(content) ?? 0;
      seen.set(content, ordinal + 1);
      record.id = digestId([...report.idParts(record), content, ordinal]);
      report.complete(record);
      const billed = values[billedIndex] ?? '';
      record.billed_cost_nano_usd = billed === '' ? null : (usdTextToNano(billed) ?? null);
      page.push(record);
      if (page.length >= PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
  } catch (error) {
    if (error instanceof ResponseShapeError) throw error;
    const where = line === undefined ? '' : ` (after CSV line ${line.line})`;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ResponseShapeError(
      `fal's ${report.what} cannot be read${where}: ${reason}. fal may have changed the report; upgrade source-fal or report this.`,
      { endpoint: report.endpoint, requestId: report.requestId },
    );
  }
  if (page.length > 0) yield page;
}

/** fal's 403 for a FOCUS report, as a config_error that says what the stream needs, keeping fal's words. */
export function focusRefused(
  response: TextResponse,
  endpoint: string,
  stream: string,
  needs = 'FOCUS billing reports',
): ConfigError {
  const said = response.error?.message ? `; fal says: "${response.error.message}"` : '';
  return new ConfigError(
    'focus_not_enabled',
    `The ${stream} stream needs ${needs}, and fal refused them for this key (403${said}). FOCUS reports are an enterprise feature: ask fal to enable FOCUS reports for this account (and use an ADMIN-scope key), or remove ${stream} from the catalog. The other streams are not affected.`,
    { endpoint, status: 403, requestId: response.requestId },
  );
}
