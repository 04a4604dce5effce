import { describe, expect, it } from 'vitest';

import { loadStreamSchema } from '../schemas.js';
import { ALL_STREAMS } from '../streams/index.js';
import type { SnapshotStream, Stream } from '../streams/stream.js';
import { usage } from '../streams/usage.js';
import { columnKind, plainDecimal, planTable, recordCells, toCell } from './columns.js';
import { parseTarget } from './destinations.js';
import { DUCKDB_SQL } from './duckdb.js';
import { POSTGRES_SQL } from './postgres.js';

describe('given JSON Schema property types', () => {
  it.each([
    [{ type: 'number' }, 'decimal'],
    [{ type: ['null', 'number'] }, 'decimal'],
    [{ type: 'integer' }, 'bigint'],
    [{ type: ['integer', 'null'] }, 'bigint'],
    [{ type: 'string', format: 'date-time', airbyte_type: 'timestamp_with_timezone' }, 'timestamptz'],
    [{ type: ['null', 'string'], format: 'date-time' }, 'timestamptz'],
    [{ type: 'string', format: 'date' }, 'date'],
    [{ type: 'string' }, 'text'],
    [{ type: 'string', enum: ['hour', 'day'] }, 'text'],
    [{ type: 'boolean' }, 'boolean'],
    [{ type: 'object', properties: {} }, 'json'],
    [{ type: ['null', 'array'], items: {} }, 'json'],
    [{ type: ['string', 'number'] }, 'json'],
    [{ anyOf: [{ type: 'null' }, { type: 'number' }] }, 'decimal'],
    [{}, 'json'],
  ])('when a property is %j then its column kind is %s', (property, kind) => {
    expect(columnKind(property)).toBe(kind);
  });

  it('when the kinds are named per dialect then money is DECIMAL/NUMERIC(38,9) and nothing is a float', () => {
    expect(DUCKDB_SQL.types.decimal).toBe('DECIMAL(38,9)');
    expect(POSTGRES_SQL.types.decimal).toBe('NUMERIC(38,9)');
    expect(POSTGRES_SQL.types.json).toBe('JSONB');
    for (const dialect of [DUCKDB_SQL, POSTGRES_SQL])
      for (const type of Object.values(dialect.types)) expect(type).not.toMatch(/double|float|real/i);
  });
});

describe('given every registered stream and its schema', () => {
  it.each(ALL_STREAMS.map((s) => [s.name, s] as const))(
    'when %s is planned then every key is a NOT NULL column and no number is a float',
    (_name, stream) => {
      const plan = planTable(stream, loadStreamSchema(stream.name));
      for (const key of stream.primaryKey) expect(plan.columns.find((c) => c.name === key)?.key).toBe(true);
      expect(plan.columns.map((c) => c.kind)).not.toContain('double');
    },
  );

  it('when usage is planned then money is decimal, the nano total is the cost column and bucket the cursor', () => {
    const plan = planTable(usage, loadStreamSchema('usage'));
    const kinds = Object.fromEntries(plan.columns.map((c) => [c.name, c.kind]));
    expect(kinds).toMatchObject({
      id: 'text',
      bucket: 'timestamptz',
      cost_total: 'decimal',
      unit_price: 'decimal',
      cost_total_nano_usd: 'bigint',
      quantity: 'decimal',
    });
    expect(plan.costColumn).toBe('cost_total_nano_usd');
    expect(plan.cursorColumn).toBe('bucket');
    expect(plan.kind).toBe('incremental');
  });

  it('when a snapshot stream has a nano column that is a balance, not a charge, then nothing is totalled as cost', () => {
    // Regression: the summary showed a credit balance (credits) and a sum of unit prices (pricing) as "cost USD".
    const stream: SnapshotStream = {
      kind: 'snapshot',
      name: 'credits',
      primaryKey: ['username'],
      requires: 'admin',
      docsUrl: '',
      read: async function* () {},
    };
    const plan = planTable(stream as Stream, {
      properties: { username: { type: 'string' }, balance_nano_usd: { type: 'integer' }, balance: { type: 'number' } },
    });
    expect(plan.costColumn).toBeUndefined();
    expect(plan.cursorColumn).toBeUndefined();
  });

  it.each([
    ['credits', undefined],
    ['pricing', undefined],
    ['invoices', 'billed_cost_nano_usd'],
    ['billing_events', 'cost_estimate_nano_usd'],
    ['org_usage', 'cost_total_nano_usd'],
  ])('when %s is planned then the summary totals %s as its cost', (name, column) => {
    const stream = ALL_STREAMS.find((s) => s.name === name);
    expect(planTable(stream as Stream, loadStreamSchema(name)).costColumn).toBe(column);
  });
});

describe('given numbers as JavaScript holds them', () => {
  it.each([
    ['1e-7', '0.0000001'],
    ['1.5e-9', '0.0000000015'],
    ['1.5e21', '1500000000000000000000'],
    ['-2.5e-3', '-0.0025'],
    ['0.045', '0.045'],
    ['.5', '0.5'],
    ['12', '12'],
    ['1.23e2', '123'],
    ['1.2345e2', '123.45'],
  ])('when %s is written as a decimal then it is %s, digit for digit', (text, expected) => {
    expect(plainDecimal(text)).toBe(expected);
  });

  it('when fal sends 0.1 + 0.2 style values then the cell is the shortest text, not a float expansion', () => {
    expect(toCell('decimal', 0.3)).toBe('0.3');
    expect(toCell('decimal', 0.1 + 0.2)).toBe('0.30000000000000004');
    expect(toCell('decimal', 4.5e-7)).toBe('0.00000045');
  });
});

describe('given values that do not fit their column', () => {
  it.each([
    ['decimal', 'abc'],
    ['decimal', { a: 1 }],
    ['bigint', 1.5],
    ['bigint', 2 ** 60],
    ['boolean', 'yes'],
    ['timestamptz', 'yesterday'],
    ['timestamptz', 12],
    ['date', '2026-01-01T00:00:00Z'],
    ['text', { a: 1 }],
  ] as const)('when a %s column gets %j then the value does not fit', (kind, value) => {
    expect(toCell(kind, value)).toBeUndefined();
  });

  it('when a record has undeclared fields and a misfit then both land in _extra and nothing is dropped', () => {
    const plan = planTable(usage, loadStreamSchema('usage'));
    const declared = new Set(plan.columns.map((c) => c.name));
    const record = {
      id: 'x',
      bucket: '2026-01-01T00:00:00Z',
      quantity: 'lots',
      cost_total: 1.25,
      brand_new_field: { nested: true },
    };
    const { cells, misfits } = recordCells(plan, declared, record);
    expect(misfits).toEqual(['quantity']);
    expect(cells[plan.columns.findIndex((c) => c.name === 'quantity')]).toBeNull();
    expect(cells[plan.columns.findIndex((c) => c.name === 'cost_total')]).toBe('1.25');
    expect(JSON.parse(String(cells.at(-1)))).toEqual({ quantity: 'lots', brand_new_field: { nested: true } });
  });

  it('when a record has only declared fields then _extra is NULL', () => {
    const plan = planTable(usage, loadStreamSchema('usage'));
    const { cells, misfits } = recordCells(plan, new Set(plan.columns.map((c) => c.name)), {
      id: 'x',
      bucket: '2026-01-01T00:00:00Z',
    });
    expect(misfits).toBeUndefined();
    expect(cells.at(-1)).toBeNull();
  });
});

describe('given --destination values', () => {
  it.each([
    ['./fal.duckdb', { dialect: 'duckdb', path: './fal.duckdb' }],
    ['duckdb:///var/lib/fal.duckdb', { dialect: 'duckdb', path: '/var/lib/fal.duckdb' }],
    ['duckdb://fal.duckdb', { dialect: 'duckdb', path: 'fal.duckdb' }],
    ['duckdb:fal.duckdb', { dialect: 'duckdb', path: 'fal.duckdb' }],
    ['postgres://u:p@db:5432/warehouse', { dialect: 'postgres', url: 'postgres://u:p@db:5432/warehouse' }],
    ['postgresql://db/warehouse', { dialect: 'postgres', url: 'postgresql://db/warehouse' }],
    ['parquet://./fal-parquet', { dialect: 'parquet', path: './fal-parquet' }],
    ['parquet:///data/fal', { dialect: 'parquet', path: '/data/fal' }],
  ])('when it is %s then the target is %j', (text, target) => {
    expect(parseTarget(text)).toEqual(target);
  });

  it.each(['mysql://x/y', 'snowflake://acct', '', 'duckdb://', 'parquet://'])(
    'when it is %j then it is refused with the accepted forms',
    (text) => {
      expect(() => parseTarget(text)).toThrow(/DuckDB file path .* PostgreSQL URL/);
    },
  );
});
