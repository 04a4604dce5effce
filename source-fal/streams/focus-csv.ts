/**
 * fal's FOCUS CSV: RFC 4180 text whose columns are FOCUS specification names in PascalCase.
 * Which FOCUS version fal follows and its full column set are unknown, so every column is kept under the name fal
 * sends; the ones whose FOCUS meaning is known are typed: decimals → numbers, date/times
 * → RFC 3339 UTC, JSON columns → objects, and an empty field → null (FOCUS has no empty strings, only nulls).
 * Unknown columns stay strings.
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
class FocusValueError extends Error {}

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

/** What csv-parse yields with `info: true` (its typings say `any`). */
const ParsedLine = z.object({ record: z.array(z.string()), info: z.object({ lines: z.number() }) });

/**
 * The lines of a FOCUS CSV in order, through csv-parse's streaming parser (quoted commas, doubled quotes and
 * newlines inside fields; a ragged row or an unclosed quote is an error, never a silently shifted column).
 * Throws FocusValueError for a missing or repeated header name and csv-parse's CsvError for malformed text.
 */
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

export interface FocusRecordOptions {
  /** Which columns identify a line: their raw text, with the line's ordinal among lines alike, makes its `id`. */
  identifying(column: string): boolean;
  /** Identity parts before the line's own (e.g. the billing month and the InvoiceId), from the typed record. */
  idPrefix(record: StreamRecord): unknown[];
  /** Fields the stream adds or defaults, after typing and before the id. */
  complete?(record: StreamRecord): void;
  /** For messages, e.g. `FOCUS invoice CSV for billing month 2026-11`. */
  what: string;
  endpoint: string;
  requestId: string | undefined;
}

/**
 * One record per line of a FOCUS CSV: every column under fal's name, typed per FOCUS, plus `id` and
 * `billed_cost_nano_usd` (BilledCost as exact integer nano-USD, from the decimal text). The same report read again
 * gives the same ids; two lines alike stay two rows (their ordinal differs).
 */
export async function* focusRecords(text: string, options: FocusRecordOptions): AsyncGenerator<StreamRecord> {
  const seen = new Map<string, number>();
  let line: FocusLine | undefined;
  let billedIndex = -1;
  try {
    for await (line of focusLines(text)) {
      const { columns, values } = line;
      if (billedIndex < 0) {
        // BilledCost is what a report totals on (FOCUS: its sum per InvoiceId is the amount payable).
        billedIndex = columns.indexOf('BilledCost');
        if (billedIndex < 0) throw new FocusValueError('the header has no BilledCost column');
      }
      const record: StreamRecord = {};
      const fields: [string, string][] = [];
      for (const [i, name] of columns.entries()) {
        const raw = values[i] ?? '';
        record[name] = focusValue(name, raw);
        if (options.identifying(name)) fields.push([name, raw]);
      }
      options.complete?.(record);
      // Identity from the raw text, independent of column order and of how we type the values.
      const content = JSON.stringify(fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const ordinal = seen.get(content) ?? 0;
      seen.set(content, ordinal + 1);
      record.id = digestId([...options.idPrefix(record), content, ordinal]);
      const billed = values[billedIndex] ?? '';
      record.billed_cost_nano_usd = billed === '' ? null : (usdTextToNano(billed) ?? null);
      yield record;
    }
  } catch (error) {
    if (error instanceof ResponseShapeError) throw error;
    const where = line === undefined ? '' : ` (after CSV line ${line.line})`;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ResponseShapeError(
      `fal's ${options.what} cannot be read${where}: ${reason}. fal may have changed the report; upgrade source-fal or report this.`,
      { endpoint: options.endpoint, requestId: options.requestId },
    );
  }
}

/** fal's 403 on a FOCUS report: the account has no FOCUS reports (an enterprise feature), said with the fix. */
export function focusNotEnabled(stream: string, endpoint: string, response: TextResponse): ConfigError {
  const said = response.error?.message ? `; fal says: "${response.error.message}"` : '';
  return new ConfigError(
    'focus_not_enabled',
    `The ${stream} stream needs FOCUS billing reports, and fal refused them for this key (403${said}). FOCUS reports are an enterprise feature: ask fal to enable FOCUS reports for this account (and use an ADMIN-scope key), or remove ${stream} from the catalog. The other streams are not affected.`,
    { endpoint, status: 403, requestId: response.requestId },
  );
}
