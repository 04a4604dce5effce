import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { thrownConfigError } from '../integration_tests/helpers/thrown.js';
import { silentLogger } from './log.js';
import { LineWriter } from './output.js';
import { loadStreamSchema } from './schemas.js';
import { singerCatalogEntry } from './singer/catalog.js';
import { selectedSchema, SingerOutput } from './singer/output.js';
import { parseSingerCatalog, type SingerSelection } from './singer/selection.js';
import { parseSingerState } from './singer/state.js';
import { NO_CURSOR_STATE } from './state.js';
import type { SnapshotStream } from './streams/stream.js';
import { usage } from './streams/usage.js';

/** The usage catalog entry as discovery prints it, with stream-level metadata changed. */
function usageEntry(
  top: Record<string, unknown> = {},
  fields: Record<string, Record<string, unknown>> = {},
): Record<string, unknown> {
  const entry = singerCatalogEntry(usage);
  return {
    ...entry,
    metadata: entry.metadata.map((m) => {
      if (m.breadcrumb.length === 0) return { ...m, metadata: { ...m.metadata, ...top } };
      const name = m.breadcrumb[1] ?? '';
      return name in fields ? { ...m, metadata: { ...m.metadata, ...fields[name] } } : m;
    }),
  };
}

describe('singerCatalogEntry', () => {
  it('given the incremental usage stream then its metadata offers the cursor and marks key and cursor automatic', () => {
    const entry = singerCatalogEntry(usage);
    expect(entry).toMatchObject({
      tap_stream_id: 'usage',
      stream: 'usage',
      key_properties: ['id'],
      replication_method: 'INCREMENTAL',
      replication_key: 'bucket',
    });
    expect(entry.schema).toEqual(loadStreamSchema('usage'));
    const top = entry.metadata.find((m) => m.breadcrumb.length === 0)?.metadata;
    expect(top).toEqual({
      inclusion: 'available',
      selected: true,
      'selected-by-default': true,
      'table-key-properties': ['id'],
      'valid-replication-keys': ['bucket'],
      'replication-method': 'INCREMENTAL',
      'replication-key': 'bucket',
    });
    const inclusion = (name: string): unknown =>
      entry.metadata.find((m) => m.breadcrumb[1] === name)?.metadata.inclusion;
    expect([inclusion('id'), inclusion('bucket'), inclusion('cost_total')]).toEqual([
      'automatic',
      'automatic',
      'available',
    ]);
  });

  it('given a snapshot stream (no cursor) then it is forced FULL_TABLE with no replication keys', () => {
    // No snapshot stream is registered yet; a stand-in with the usage schema exercises the branch.
    const snapshot: SnapshotStream = {
      kind: 'snapshot',
      name: 'usage',
      primaryKey: ['id'],
      requires: 'admin',
      docsUrl: '',
      read: async function* () {},
    };
    const entry = singerCatalogEntry(snapshot);
    expect(entry.replication_method).toBe('FULL_TABLE');
    expect(entry.replication_key).toBeUndefined();
    expect(entry.metadata.find((m) => m.breadcrumb.length === 0)?.metadata).toMatchObject({
      'forced-replication-method': 'FULL_TABLE',
      'replication-method': 'FULL_TABLE',
      'valid-replication-keys': [],
    });
    expect(entry.metadata.find((m) => m.breadcrumb[1] === 'bucket')?.metadata.inclusion).toBe('available');
  });
});

describe('parseSingerCatalog', () => {
  it('given the discovered catalog then usage is selected, incremental, with every field', () => {
    expect(parseSingerCatalog({ streams: [singerCatalogEntry(usage)] })).toEqual([
      { stream: usage, mode: 'incremental', fields: undefined },
    ]);
  });

  it.each([
    ['metadata selected: false', usageEntry({ selected: false }), 0],
    ['no selected but selected-by-default', usageEntry({ selected: undefined }), 1],
    [
      'neither selected nor selected-by-default',
      usageEntry({ selected: undefined, 'selected-by-default': undefined }),
      0,
    ],
    [
      'the legacy top-level selected: true',
      { ...usageEntry({ selected: undefined, 'selected-by-default': undefined }), selected: true },
      1,
    ],
  ])('given %s then %i stream is selected', (_label, entry, count) => {
    expect(parseSingerCatalog({ streams: [entry] })).toHaveLength(count);
  });

  it('given replication-method FULL_TABLE then usage is read in full refresh', () => {
    expect(parseSingerCatalog({ streams: [usageEntry({ 'replication-method': 'FULL_TABLE' })] })[0]?.mode).toBe(
      'full_refresh',
    );
  });

  it('given no replication-method at all then an incremental stream defaults to INCREMENTAL', () => {
    const entry = usageEntry({ 'replication-method': undefined });
    delete (entry as { replication_method?: unknown }).replication_method;
    expect(parseSingerCatalog({ streams: [entry] })[0]?.mode).toBe('incremental');
  });

  it('given LOG_BASED, a duplicate and a selected unknown stream then one ConfigError lists all three; a foreign replication-key is refused too', () => {
    const error = thrownConfigError(() =>
      parseSingerCatalog({
        streams: [
          usageEntry({ 'replication-method': 'LOG_BASED' }),
          usageEntry({ 'replication-key': 'endpoint_id' }),
          { tap_stream_id: 'usages', metadata: [{ breadcrumb: [], metadata: { selected: true } }] },
        ],
      }),
    );
    expect(error.code).toBe('invalid_catalog');
    expect(error.message).toContain('stream usage has replication-method "LOG_BASED"; use INCREMENTAL or FULL_TABLE');
    expect(error.message).toContain('stream usage is listed twice');
    expect(error.message).toContain('unknown stream "usages" is selected');
    const key = thrownConfigError(() =>
      parseSingerCatalog({ streams: [usageEntry({ 'replication-key': 'endpoint_id' })] }),
    );
    expect(key.message).toContain('its only replication key is bucket');
  });

  it('given an unselected unknown stream then it is ignored', () => {
    expect(
      parseSingerCatalog({
        streams: [{ tap_stream_id: 'gone', metadata: [{ breadcrumb: [], metadata: { selected: false } }] }],
      }),
    ).toEqual([]);
  });

  it('given deselected fields then they are dropped, except the key and the cursor', () => {
    const [selection] = parseSingerCatalog({
      streams: [usageEntry({}, { cost: { selected: false }, id: { selected: false }, bucket: { selected: false } })],
    });
    expect(selection?.fields?.has('cost')).toBe(false);
    expect(selection?.fields?.has('id')).toBe(true);
    expect(selection?.fields?.has('bucket')).toBe(true);
    expect(selection?.fields?.has('cost_total')).toBe(true);
  });

  it.each([null, [], { streams: 'usage' }, 'catalog'])('given %j then it is not a Singer catalog', (json) => {
    expect(thrownConfigError(() => parseSingerCatalog(json)).message).toMatch(/not a Singer catalog/);
  });
});

describe('parseSingerState', () => {
  it.each([null, undefined, {}, { singer_state: {} }])('given %j then there is no state', (json) => {
    const { bookmarks, states } = parseSingerState(json);
    expect(bookmarks).toEqual({});
    expect(states.size).toBe(0);
  });

  it("given bookmarks (plain or in Meltano's singer_state) then they become the per-stream states, unknown streams included", () => {
    const value = {
      bookmarks: { usage: { bucket: '2026-11-20T00:00:00Z' }, old_stream: { x: 1 } },
      currently_syncing: null,
    };
    for (const json of [value, { singer_state: value }]) {
      const { bookmarks, states } = parseSingerState(json);
      expect(bookmarks).toEqual(value.bookmarks);
      expect(states.get('usage')).toEqual({ bucket: '2026-11-20T00:00:00Z' });
      expect(states.get('old_stream')).toEqual({ x: 1 });
    }
  });

  it.each([
    [[{ type: 'STREAM' }], /not Singer state/],
    [{ usage: { bucket: 'x' } }, /not Singer state/],
    [{ bookmarks: { usage: 'x' } }, /bookmark of stream usage is not an object/],
  ])('given %j then it is refused', (json, reason) => {
    const error = thrownConfigError(() => parseSingerState(json));
    expect(error.code).toBe('invalid_state');
    expect(error.message).toMatch(reason);
  });
});

describe('SingerOutput', () => {
  function capture() {
    let text = '';
    const sink = new Writable({
      decodeStrings: false,
      write(chunk: string, _encoding, callback) {
        text += chunk;
        callback();
      },
    });
    return {
      writer: new LineWriter(sink),
      lines: (): Record<string, unknown>[] =>
        text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  }

  it('given a stream read then SCHEMA once at start, RECORDs with time_extracted, and whole-state STATEs that keep other bookmarks', async () => {
    const { writer, lines } = capture();
    const selection: SingerSelection = { stream: usage, mode: 'incremental', fields: undefined };
    const out = new SingerOutput(writer, [selection], { other: { at: 'x' } }, silentLogger);
    await out.status('usage', 'STARTED');
    await out.status('usage', 'RUNNING');
    await out.records('usage', [{ id: 'a', bucket: '2026-11-01T00:00:00Z' }]);
    await out.checkpoint('usage', { bucket: '2026-11-08T00:00:00Z' }, 1);
    await out.records('usage', []);
    await out.checkpoint('usage', { bucket: '2026-11-15T00:00:00Z' }, 0);
    await out.status('usage', 'COMPLETE');
    await writer.end();
    const messages = lines();
    expect(messages.map((m) => m.type)).toEqual(['SCHEMA', 'RECORD', 'STATE', 'STATE']);
    expect(messages[0]).toEqual({
      type: 'SCHEMA',
      stream: 'usage',
      schema: loadStreamSchema('usage'),
      key_properties: ['id'],
      bookmark_properties: ['bucket'],
    });
    expect(messages[1]).toMatchObject({
      type: 'RECORD',
      stream: 'usage',
      record: { id: 'a', bucket: '2026-11-01T00:00:00Z' },
    });
    expect(Date.parse(String(messages[1]?.time_extracted))).not.toBeNaN();
    expect(messages[3]).toEqual({
      type: 'STATE',
      value: { bookmarks: { other: { at: 'x' }, usage: { bucket: '2026-11-15T00:00:00Z' } } },
    });
  });

  it('given selected fields and a full-refresh marker then records are narrowed and no bookmark is stored', async () => {
    const { writer, lines } = capture();
    const selection: SingerSelection = { stream: usage, mode: 'full_refresh', fields: new Set(['id', 'bucket']) };
    const out = new SingerOutput(writer, [selection], {}, silentLogger);
    await out.records('usage', [{ id: 'a', bucket: 'b', cost_total: 1 }]);
    await out.checkpoint('usage', { ...NO_CURSOR_STATE }, 1);
    await writer.end();
    const [schema, record, state] = lines();
    expect(schema).toMatchObject({ type: 'SCHEMA', key_properties: ['id'] });
    expect(schema).not.toHaveProperty('bookmark_properties');
    expect(Object.keys((schema?.schema as { properties: object }).properties)).toEqual(['id', 'bucket']);
    expect(record?.record).toEqual({ id: 'a', bucket: 'b' });
    expect(state).toEqual({ type: 'STATE', value: { bookmarks: {} } });
  });

  it('given selected fields then the SCHEMA keeps only required fields that are sent', () => {
    const schema = selectedSchema(usage, new Set(['id', 'bucket', 'cost_total']));
    expect(schema.required).toEqual(['id', 'bucket', 'cost_total']);
  });
});
