/**
 * From a stream's JSON Schema to warehouse columns, the same way for every stream: each declared property is a
 * typed column, fields the schema does not declare go to `_extra` (JSON), and `_synced_at` stamps every row.
 * Values travel to the database as text and are cast there, so money goes from fal's decimal text to
 * DECIMAL(38,9) without ever being a float in between (a JS number prints as the shortest decimal that
 * round-trips, which is the text fal sent).
 */
import { PropertySchemaZ, type StreamSchema } from '../schemas.js';
import type { Stream, StreamRecord } from '../streams/stream.js';

/** What a column holds; each destination's SqlDialect names the SQL type. */
export type ColumnKind = 'text' | 'decimal' | 'bigint' | 'boolean' | 'timestamptz' | 'date' | 'json';

/** The SQL engines a destination can run on. */
export type Dialect = 'duckdb' | 'postgres';

export interface Column {
  name: string;
  kind: ColumnKind;
  /** Part of the primary key: NOT NULL. */
  key: boolean;
}

/** Everything the loader and the destinations need to know about one stream's table. */
export interface TablePlan {
  stream: string;
  /** Table name, the stream name (docs/design.md: the same spelling everywhere). */
  table: string;
  /** Declared columns in schema order; `_extra` and `_synced_at` come after them. */
  columns: Column[];
  primaryKey: string[];
  /** incremental: windows are merged by primary key; snapshot: the table is replaced on each sync. */
  kind: 'incremental' | 'snapshot';
  /** The cursor column, when it is a timestamp column: the summary reports the range it covers. */
  cursorColumn: string | undefined;
  /** The charge column to total in the summary (`cost_total_nano_usd`, else the first `cost…`/`billed_cost…_nano_usd`). */
  costColumn: string | undefined;
}

export const EXTRA_COLUMN = '_extra';
export const SYNCED_AT_COLUMN = '_synced_at';
export const STATE_TABLE = '_source_fal_state';

/** The column kind for one property schema. Unknown, mixed or absent types are kept whole as JSON. */
export function columnKind(property: unknown): ColumnKind {
  const parsed = PropertySchemaZ.safeParse(property);
  if (!parsed.success) return 'json';
  const schema = parsed.data;
  const rawTypes = schema.type;
  const types = (Array.isArray(rawTypes) ? rawTypes : rawTypes === undefined ? [] : [rawTypes]).filter(
    (t) => t !== 'null',
  );
  if (types.length !== 1) {
    // anyOf/oneOf of a single non-null type, as some generators write nullable fields.
    const alternatives = schema.anyOf ?? schema.oneOf;
    if (types.length === 0 && alternatives !== undefined) {
      const kinds = new Set(alternatives.filter((alt) => alt.type !== 'null').map(columnKind));
      const [only] = kinds;
      if (kinds.size === 1 && only !== undefined) return only;
    }
    return 'json';
  }
  switch (types[0]) {
    case 'string':
      if (schema.format === 'date-time' || schema.airbyte_type?.startsWith('timestamp') === true) return 'timestamptz';
      if (schema.format === 'date') return 'date';
      return 'text';
    case 'integer':
      return 'bigint';
    case 'number':
      return 'decimal';
    case 'boolean':
      return 'boolean';
    default:
      return 'json';
  }
}

/** The plan for a stream's table from its registry entry and its JSON Schema (schemas/<name>.json). */
export function planTable(stream: Stream, schema: StreamSchema): TablePlan {
  const properties = schema.properties;
  const primaryKey = [...stream.primaryKey];
  const columns: Column[] = Object.entries(properties)
    .filter(([name]) => name !== EXTRA_COLUMN && name !== SYNCED_AT_COLUMN)
    .map(([name, property]) => ({ name, kind: columnKind(property), key: primaryKey.includes(name) }));
  // A key field the schema forgot is still a column (text), never silently an _extra field.
  for (const name of primaryKey)
    if (!columns.some((c) => c.name === name)) columns.unshift({ name, kind: 'text', key: true });
  const cursor =
    stream.kind === 'incremental'
      ? columns.find((c) => c.name === stream.cursorField && c.kind === 'timestamptz')
      : undefined;
  // Only a charge is a cost: not a credit balance (credits) nor a unit price (pricing).
  const nano = columns.filter((c) => c.kind === 'bigint' && /^(cost|billed_cost)\w*_nano_usd$/.test(c.name));
  const cost = nano.find((c) => c.name === 'cost_total_nano_usd') ?? nano[0];
  return {
    stream: stream.name,
    table: stream.name,
    columns,
    primaryKey,
    kind: stream.kind,
    cursorColumn: cursor?.name,
    costColumn: cost?.name,
  };
}

/** A cell as sent to the database: text to cast, or null. `undefined` means the value does not fit the column. */
export type Cell = string | null;

const DECIMAL_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INTEGER_TEXT = /^[-+]?\d+$/;
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$/;
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;

/** The text a column of `kind` stores for `value`, or undefined when the value does not fit it. */
export function toCell(kind: ColumnKind, value: unknown): Cell | undefined {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'text':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return undefined;
    case 'decimal':
      if (typeof value === 'number') return Number.isFinite(value) ? plainDecimal(String(value)) : undefined;
      if (typeof value === 'string' && DECIMAL_TEXT.test(value.trim())) return plainDecimal(value.trim());
      return undefined;
    case 'bigint':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) return value.trim();
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : undefined;
    case 'timestamptz':
      // Texts without a zone are UTC (fal is always asked for UTC); the session time zone of both databases is UTC too.
      return typeof value === 'string' &&
        TIMESTAMP_TEXT.test(value) &&
        !Number.isNaN(Date.parse(value.replace(' ', 'T')))
        ? value
        : undefined;
    case 'date':
      return typeof value === 'string' && DATE_TEXT.test(value) ? value : undefined;
    case 'json':
      return JSON.stringify(value);
  }
}

/**
 * A decimal text without an exponent (`1e-7` → `0.0000001`, `1.5e21` → `1500000000000000000000`), so every database
 * casts it the same way. Digits are moved, never computed, so nothing is rounded here.
 */
export function plainDecimal(text: string): string {
  let body = text;
  let sign = '';
  if (body.startsWith('-') || body.startsWith('+')) {
    if (body.startsWith('-')) sign = '-';
    body = body.slice(1);
  }
  const e = body.search(/[eE]/);
  if (e < 0) return `${sign}${body.startsWith('.') ? `0${body}` : body}`;
  const exponent = Number(body.slice(e + 1));
  const mantissa = body.slice(0, e);
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  // Position of the decimal point within `digits` after applying the exponent.
  const point = (dot < 0 ? mantissa.length : dot) + exponent;
  let result: string;
  if (point <= 0) result = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) result = digits + '0'.repeat(point - digits.length);
  else result = `${digits.slice(0, point)}.${digits.slice(point)}`;
  result = result.replace(/^0+(?=\d)/, '');
  if (result.includes('.')) result = result.replace(/\.?0+$/, '');
  return `${sign}${result === '' ? '0' : result}`;
}

export interface RowCells {
  /** One cell per declared column, in plan order, then `_extra`. */
  cells: Cell[];
  /** Fields whose value did not fit their column; they were kept in `_extra` instead. */
  misfits: string[] | undefined;
}

/**
 * Turns a record into cells: declared fields in column order, everything else (and any declared field whose value
 * does not fit its column) as one JSON object in `_extra`, so nothing is silently dropped.
 */
export function recordCells(plan: TablePlan, declared: ReadonlySet<string>, record: StreamRecord): RowCells {
  const cells: Cell[] = new Array<Cell>(plan.columns.length + 1);
  let extra: Record<string, unknown> | undefined;
  let misfits: string[] | undefined;
  for (const [i, column] of plan.columns.entries()) {
    const value = record[column.name];
    const cell = toCell(column.kind, value);
    if (cell === undefined) {
      cells[i] = null;
      (extra ??= {})[column.name] = value;
      (misfits ??= []).push(column.name);
    } else {
      cells[i] = cell;
    }
  }
  for (const key in record) {
    if (!declared.has(key) && record[key] !== undefined) (extra ??= {})[key] = record[key];
  }
  cells[plan.columns.length] = extra === undefined ? null : JSON.stringify(extra);
  return { cells, misfits };
}

/** Whether two spellings name the same SQL type (information_schema and format_type spell them their own way). */
export function sameSqlType(a: string, b: string): boolean {
  const norm = (t: string): string =>
    t
      .toUpperCase()
      .replace(/TIMESTAMP WITH TIME ZONE/g, 'TIMESTAMPTZ')
      .replace(/^NUMERIC/, 'DECIMAL')
      .replace(/^CHARACTER VARYING$|^TEXT$/, 'VARCHAR')
      .replace(/\s+/g, '');
  return norm(a) === norm(b);
}

/** `"name"` with embedded quotes doubled: the same rule in DuckDB and PostgreSQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
