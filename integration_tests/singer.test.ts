/**
 * The Singer front end (tap-fal) against the fal emulator, through the built CLI: discovery prints a valid
 * Singer catalog of every stream, a sync emits SCHEMA, RECORD and STATE messages that our own validator accepts
 * and carries the same records as the Airbyte `read`, the last STATE resumes the next sync, and the catalog's
 * selection (streams, replication method, fields) is obeyed. Generic over ALL_STREAMS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectionSpecification } from '../source-fal/config.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import { configuredCatalog, invalidConfig, readRepoJson, sampleConfig } from './helpers/acceptance.js';
import { records as airbyteRecords, runCli, tempDir, writeJson } from './helpers/cli.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import {
  runTap,
  SingerViolation,
  type TapResult,
  validateSingerCatalog,
  validateSingerMessages,
} from './helpers/singer.js';

const pkg = readRepoJson<{ version: string; bin: Record<string, string> }>('package.json');
const INCREMENTAL = ALL_STREAMS.filter((s) => s.kind === 'incremental');

interface CatalogEntry {
  tap_stream_id: string;
  schema: { properties: Record<string, unknown> };
  metadata: { breadcrumb: string[]; metadata: Record<string, unknown> }[];
}
type Catalog = { streams: CatalogEntry[] };

const topMetadata = (entry: CatalogEntry): Record<string, unknown> =>
  entry.metadata.find((m) => m.breadcrumb.length === 0)?.metadata ?? {};
const sortedJson = (rows: readonly unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

describe('given our Singer validator', () => {
  const schema = { type: 'object', properties: { id: { type: 'string' }, n: { type: 'integer' } }, required: ['id'] };
  const schemaMessage = { type: 'SCHEMA', stream: 's', schema, key_properties: ['id'] };

  it('then a well-formed stream passes and is summarised', () => {
    const summary = validateSingerMessages([
      schemaMessage,
      { type: 'RECORD', stream: 's', record: { id: 'a', n: 1 }, time_extracted: '2026-11-25T12:00:00.000Z' },
      { type: 'state', value: { bookmarks: { s: { at: '2026-11-25T00:00:00Z' } } } },
    ]);
    expect(summary.records.get('s')).toEqual([{ id: 'a', n: 1 }]);
    expect(summary.states).toHaveLength(1);
  });

  it.each([
    ['a RECORD before its SCHEMA', [{ type: 'RECORD', stream: 's', record: { id: 'a' } }], /before any SCHEMA/],
    ['a key property missing from the schema', [{ ...schemaMessage, key_properties: ['nope'] }], /key property nope/],
    ['a SCHEMA without key_properties', [{ type: 'SCHEMA', stream: 's', schema }], /key_properties/],
    [
      'a record that breaks the schema',
      [schemaMessage, { type: 'RECORD', stream: 's', record: { id: 'a', n: 'x' } }],
      /does not match/,
    ],
    [
      'a null key',
      [schemaMessage, { type: 'RECORD', stream: 's', record: { id: null } }],
      /does not match|key property/,
    ],
    [
      'a bad time_extracted',
      [schemaMessage, { type: 'RECORD', stream: 's', record: { id: 'a' }, time_extracted: 'yesterday' }],
      /time_extracted/,
    ],
    ['a STATE without value', [{ type: 'STATE' }], /needs a "value"/],
    ['a STATE without bookmarks', [{ type: 'STATE', value: { usage: 1 } }], /bookmarks/],
    ['an unknown message type', [{ type: 'HELLO' }], /unexpected message type/],
  ])('then %s is rejected', (_label, messages, reason) => {
    expect(() => validateSingerMessages(messages)).toThrow(SingerViolation);
    expect(() => validateSingerMessages(messages)).toThrow(reason);
  });

  it('then catalogs without stream metadata, with unknown breadcrumbs or a non-automatic key are rejected', () => {
    const good = {
      tap_stream_id: 's',
      stream: 's',
      schema,
      metadata: [{ breadcrumb: [], metadata: { 'table-key-properties': ['id'] } }],
    };
    expect(() => validateSingerCatalog({ streams: [good] })).not.toThrow();
    expect(() => validateSingerCatalog({ streams: [{ ...good, metadata: [] }] })).toThrow(/exactly one stream-level/);
    expect(() =>
      validateSingerCatalog({
        streams: [{ ...good, metadata: [...good.metadata, { breadcrumb: ['properties', 'zz'], metadata: {} }] }],
      }),
    ).toThrow(/names no top-level property/);
    expect(() =>
      validateSingerCatalog({
        streams: [
          {
            ...good,
            metadata: [...good.metadata, { breadcrumb: ['properties', 'id'], metadata: { inclusion: 'available' } }],
          },
        ],
      }),
    ).toThrow(/automatic/);
    expect(() => validateSingerCatalog({ streams: [good, good] })).toThrow(/repeats/);
  });
});

describe('given tap-fal', () => {
  it('then package.json installs it as a bin next to source-fal', () => {
    expect(pkg.bin).toEqual({ 'source-fal': 'dist/source-fal/main.js', 'tap-fal': 'dist/source-fal/singer.js' });
  });

  it('then --about --format json describes it the Meltano SDK way: name, version, capabilities, settings', async () => {
    const r = await runTap(['--about', '--format', 'json']);
    expect(r.code).toBe(0);
    const about = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(about).toMatchObject({ name: 'tap-fal', version: pkg.version });
    expect(about.capabilities).toEqual(expect.arrayContaining(['catalog', 'discover', 'state', 'about']));
    expect(about.settings).toEqual(connectionSpecification());
  });

  it('then --about --format markdown prints the settings table, one row per config field with its default', async () => {
    // Regression: fields without a default made the Markdown --about fail with a zod error (0.4.0 and earlier).
    const r = await runTap(['--about', '--format', 'markdown']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^# tap-fal ${pkg.version.replaceAll('.', '\\.')}\n`));
    expect(r.stdout).toContain('| Setting | Required | Default | Description |');
    expect(r.stdout).toMatch(/^\| api_key \| True \| None \| .+ \|$/m);
    expect(r.stdout).toMatch(/^\| start_date \| False \| None \| .+ \|$/m);
    expect(r.stdout).toMatch(/^\| lookback_days \| False \| 3 \| .+ \|$/m);
    const fields = Object.keys(connectionSpecification().properties as Record<string, unknown>);
    for (const field of fields) expect(r.stdout).toMatch(new RegExp(`^\\| ${field} \\|`, 'm'));
  });

  it('then bad usage exits 2 with the usage on stderr and nothing on stdout', async () => {
    const r = await runTap(['--discover']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--config/);
  });
});

describe('given the fal emulator', () => {
  let emu: Emulator;
  let dir: string;
  let configPath: string;
  let discovered: TapResult;
  let catalog: Catalog;
  let first: TapResult;

  const tap = (args: string[], via = false): Promise<TapResult> => runTap(args, { env: cliEnv(), viaSourceFal: via });
  const file = (name: string, value: unknown): string =>
    writeJson(dir, `${name}-${Math.random().toString(36).slice(2)}.json`, value);
  /** The discovered catalog with one change per stream. */
  const edited = (edit: (entry: CatalogEntry) => CatalogEntry): Catalog => ({
    streams: (JSON.parse(JSON.stringify(catalog)) as Catalog).streams.map(edit),
  });

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 60 });
    dir = tempDir('source-fal-singer-');
    configPath = writeJson(dir, 'config.json', sampleConfig(emu.url));
    discovered = await tap(['--config', configPath, '--discover']);
    catalog = JSON.parse(discovered.stdout) as Catalog;
    first = await tap(['--config', configPath, '--catalog', file('catalog', catalog)]);
  });
  afterAll(async () => {
    await emu.close();
  });

  describe('when it discovers', () => {
    it('then it prints one valid Singer catalog with every registered stream, selected, keyed as the registry says', () => {
      expect(discovered.code, discovered.stderr).toBe(0);
      validateSingerCatalog(catalog);
      expect(catalog.streams.map((s) => s.tap_stream_id)).toEqual(ALL_STREAMS.map((s) => s.name));
      for (const entry of catalog.streams) {
        const stream = ALL_STREAMS.find((s) => s.name === entry.tap_stream_id);
        const md = topMetadata(entry);
        expect(md.selected).toBe(true);
        expect(md['table-key-properties']).toEqual(stream?.primaryKey);
        if (stream?.kind === 'incremental') {
          expect(md['valid-replication-keys']).toEqual([stream.cursorField]);
          expect(md['forced-replication-method']).toBeUndefined();
        } else {
          expect(md['valid-replication-keys']).toEqual([]);
          expect(md['forced-replication-method']).toBe('FULL_TABLE');
        }
      }
    });

    it('then `source-fal --singer --discover` prints the same catalog', async () => {
      const r = await tap(['--discover', '--config', configPath], true);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(catalog);
    });
  });

  describe('when it syncs the discovered catalog from scratch', () => {
    it('then every message validates: SCHEMA before RECORD per stream, records match their schema, STATE holds bookmarks', () => {
      expect(first.code, first.stderr).toBe(0);
      const summary = validateSingerMessages(first.messages);
      for (const stream of ALL_STREAMS) {
        const order = summary.order.filter((m) => m.stream === stream.name);
        expect(order[0]?.type, `${stream.name} starts with SCHEMA`).toBe('SCHEMA');
        expect(order.filter((m) => m.type === 'SCHEMA')).toHaveLength(1);
        expect(summary.records.get(stream.name)?.length ?? 0, `records of ${stream.name}`).toBeGreaterThan(0);
        expect(summary.schemas.get(stream.name)?.key_properties).toEqual(stream.primaryKey);
        expect(summary.schemas.get(stream.name)?.bookmark_properties).toEqual(
          stream.kind === 'incremental' ? [stream.cursorField] : undefined,
        );
      }
      expect(summary.states.length).toBeGreaterThan(0);
    });

    it('then the last STATE has a bookmark with an RFC 3339 cursor for every incremental stream, and nothing but Singer on stdout', () => {
      const last = first.messages.filter((m) => m.type === 'STATE').at(-1)?.value as {
        bookmarks: Record<string, Record<string, string>>;
      };
      for (const stream of INCREMENTAL) {
        const cursor = last.bookmarks[stream.name]?.[stream.cursorField];
        expect(cursor, stream.name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      }
      expect(first.messages.every((m) => ['SCHEMA', 'RECORD', 'STATE'].includes(String(m.type)))).toBe(true);
    });

    it('then it carries exactly the records the Airbyte read of the same streams carries', async () => {
      const airbyte = await runCli(
        ['read', '--config', configPath, '--catalog', file('airbyte-catalog', configuredCatalog())],
        { env: cliEnv() },
      );
      expect(airbyte.code).toBe(0);
      const singer = validateSingerMessages(first.messages);
      for (const stream of ALL_STREAMS)
        expect(sortedJson(singer.records.get(stream.name) ?? []), stream.name).toEqual(
          sortedJson(airbyteRecords(airbyte, stream.name)),
        );
    });
  });

  describe('when it syncs again from the last STATE value', () => {
    it('then it reads less, the bookmarks never move back, and STATE keeps every bookmark', async () => {
      const lastValue = first.messages.filter((m) => m.type === 'STATE').at(-1)?.value as {
        bookmarks: Record<string, Record<string, string>>;
      };
      const second = await tap([
        '--config',
        configPath,
        '--catalog',
        file('catalog', catalog),
        '--state',
        file('state', lastValue),
      ]);
      expect(second.code, second.stderr).toBe(0);
      const before = validateSingerMessages(first.messages);
      const after = validateSingerMessages(second.messages);
      const secondLast = after.states.at(-1) as { bookmarks: Record<string, Record<string, string>> };
      for (const stream of INCREMENTAL) {
        expect(after.records.get(stream.name)?.length ?? 0, stream.name).toBeLessThan(
          before.records.get(stream.name)?.length ?? 0,
        );
        const was = Date.parse(lastValue.bookmarks[stream.name]?.[stream.cursorField] ?? '');
        expect(Date.parse(secondLast.bookmarks[stream.name]?.[stream.cursorField] ?? '')).toBeGreaterThanOrEqual(was);
      }
      // Each STATE is the whole state: a bookmark present at the start is in every STATE of the run.
      for (const value of after.states as { bookmarks: Record<string, unknown> }[])
        expect(Object.keys(value.bookmarks)).toEqual(expect.arrayContaining(Object.keys(lastValue.bookmarks)));
    });

    it('then Meltano\'s {"singer_state": …} wrapper is read the same way', async () => {
      const lastValue = first.messages.filter((m) => m.type === 'STATE').at(-1)?.value;
      const wrapped = await tap([
        '--config',
        configPath,
        '--catalog',
        file('catalog', catalog),
        '--state',
        file('wrapped', { singer_state: lastValue }),
      ]);
      const plain = await tap([
        '--config',
        configPath,
        '--catalog',
        file('catalog', catalog),
        '--state',
        file('plain', lastValue),
      ]);
      expect(wrapped.code).toBe(0);
      expect(validateSingerMessages(wrapped.messages).records).toEqual(validateSingerMessages(plain.messages).records);
    });
  });

  describe('when the catalog narrows the sync', () => {
    it('then FULL_TABLE reads from start_date despite a state, with no bookmark_properties in SCHEMA', async () => {
      const lastValue = first.messages.filter((m) => m.type === 'STATE').at(-1)?.value;
      const fullTable = edited((entry) => ({
        ...entry,
        metadata: entry.metadata.map((m) =>
          m.breadcrumb.length === 0 ? { ...m, metadata: { ...m.metadata, 'replication-method': 'FULL_TABLE' } } : m,
        ),
      }));
      const r = await tap([
        '--config',
        configPath,
        '--catalog',
        file('full', fullTable),
        '--state',
        file('state', lastValue),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const summary = validateSingerMessages(r.messages);
      const scratch = validateSingerMessages(first.messages);
      for (const stream of ALL_STREAMS) {
        expect(summary.schemas.get(stream.name)?.bookmark_properties).toBeUndefined();
        expect(sortedJson(summary.records.get(stream.name) ?? [])).toEqual(
          sortedJson(scratch.records.get(stream.name) ?? []),
        );
      }
    });

    it('then a stream with selected: false sends nothing, and a catalog with nothing selected syncs nothing and says so', async () => {
      const [kept, ...others] = ALL_STREAMS.map((s) => s.name);
      const some = edited((entry) => ({
        ...entry,
        metadata: entry.metadata.map((m) =>
          m.breadcrumb.length === 0 ? { ...m, metadata: { ...m.metadata, selected: entry.tap_stream_id === kept } } : m,
        ),
      }));
      const r = await tap(['--config', configPath, '--catalog', file('some', some)]);
      expect(r.code).toBe(0);
      const streams = new Set(r.messages.map((m) => m.stream).filter(Boolean));
      expect([...streams]).toEqual([kept]);
      for (const name of others) expect(streams.has(name)).toBe(false);

      const none = edited((entry) => ({
        ...entry,
        metadata: entry.metadata.map((m) =>
          m.breadcrumb.length === 0 ? { ...m, metadata: { ...m.metadata, selected: false } } : m,
        ),
      }));
      const empty = await tap(['--config', configPath, '--catalog', file('none', none)]);
      expect(empty.code).toBe(0);
      expect(empty.stdout).toBe('');
      expect(empty.stderr).toMatch(/No stream is selected/);
    });

    it('then deselected fields are left out of SCHEMA and RECORD, but key and cursor fields always stay', async () => {
      const dropped = new Map<string, string>();
      const narrowed = edited((entry) => {
        const stream = ALL_STREAMS.find((s) => s.name === entry.tap_stream_id);
        const keep = new Set([
          ...(stream?.primaryKey ?? []),
          ...(stream?.kind === 'incremental' ? [stream.cursorField] : []),
        ]);
        const victim = Object.keys(entry.schema.properties).find((name) => !keep.has(name));
        if (victim) dropped.set(entry.tap_stream_id, victim);
        return {
          ...entry,
          // Deselect one ordinary field and (in vain) every key and cursor field.
          metadata: entry.metadata.map((m) =>
            m.breadcrumb[1] === victim || keep.has(m.breadcrumb[1] ?? '')
              ? { ...m, metadata: { ...m.metadata, selected: false } }
              : m,
          ),
        };
      });
      const r = await tap(['--config', configPath, '--catalog', file('fields', narrowed)]);
      expect(r.code, r.stderr).toBe(0);
      const summary = validateSingerMessages(r.messages);
      for (const stream of ALL_STREAMS) {
        const victim = dropped.get(stream.name);
        const props = Object.keys(summary.schemas.get(stream.name)?.schema.properties as Record<string, unknown>);
        if (victim) expect(props).not.toContain(victim);
        for (const key of [...stream.primaryKey, ...(stream.kind === 'incremental' ? [stream.cursorField] : [])])
          expect(props).toContain(key);
        for (const row of summary.records.get(stream.name) ?? []) {
          if (victim) expect(row).not.toHaveProperty([victim]);
          for (const key of stream.primaryKey) expect(row[key]).toBeDefined();
        }
      }
    });
  });

  describe('when something is wrong', () => {
    it('then a selected unknown stream fails before reading: exit 1, the reason on stderr, nothing on stdout', async () => {
      const bogus = {
        streams: [
          ...catalog.streams,
          { ...catalog.streams[0], tap_stream_id: 'no_such_stream', stream: 'no_such_stream' },
        ],
      };
      const r = await tap(['--config', configPath, '--catalog', file('bogus', bogus)]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/unknown stream "no_such_stream"/);
    });

    it('then Airbyte state passed as Singer state is refused with a hint', async () => {
      const r = await tap([
        '--config',
        configPath,
        '--catalog',
        file('catalog', catalog),
        '--state',
        file('airbyte-state', readRepoJson('integration_tests/sample_state.json')),
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/not Singer state/);
    });

    it('then an unknown key fails with exit 1, the cause on stderr and the key nowhere in the output', async () => {
      const invalid = invalidConfig(emu.url);
      const r = await tap(['--config', file('invalid', invalid), '--catalog', file('catalog', catalog)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/rejected the API key/);
      const secret = String(invalid.api_key).split(':')[1] ?? '';
      expect(secret.length).toBeGreaterThan(8);
      expect(r.stdout + r.stderr).not.toContain(secret);
      // The SCHEMA of the failed stream may be out, but no record and no state is.
      validateSingerMessages(r.messages);
      expect(r.messages.filter((m) => m.type !== 'SCHEMA')).toEqual([]);
    });
  });
});
