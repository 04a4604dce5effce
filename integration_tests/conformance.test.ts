/**
 * The conformance suite: Airbyte's acceptance-test assertions (https://docs.airbyte.com/understanding-airbyte/airbyte-protocol),
 * run against the built CLI and the fal emulator for every registered stream. A new stream is covered by adding
 * it to the registry and its schema file; nothing here names a stream.
 *
 * The inputs are Airbyte's acceptance-test inputs, read through acceptance-test-config.yml as CAT reads them
 * (helpers/acceptance.ts): configured_catalog.json, abnormal_state.json, invalid_config.json, schemas/spec.json, and
 * sample_config.json (with the emulator's base_url) standing in for the real secrets/config.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Ajv } from 'ajv';
import ajvFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { API_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { loadStreamSchema } from '../source-fal/schemas.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import {
  configuredCatalog,
  fullRefreshCatalog,
  futureState,
  invalidConfig,
  readRepoJson,
  SAMPLE_CONFIG_FILE,
  SAMPLE_STATE_FILE,
  sampleConfig,
  suiteTests,
} from './helpers/acceptance.js';
import {
  type CliResult,
  finalStateFile,
  records,
  REPO_ROOT,
  runCli,
  states,
  statuses,
  tempDir,
  traces,
  writeJson,
} from './helpers/cli.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';
import { assertRecordMatchesSchema } from './helpers/protocol.js';

/** Tests that spawn many whole reads; on a busy two-core CI runner they need more than vitest's 60 s. */
const MULTI_RUN_TIMEOUT_MS = 180_000;
const FORBIDDEN_KEYWORDS = [
  '$ref',
  'not',
  'anyOf',
  'allOf',
  'oneOf',
  'patternProperties',
  'prefixItems',
  'if',
  'then',
  'else',
  'dependentSchemas',
  'dependentRequired',
];
// Airbyte flags these property names as secrets (connector-acceptance-test test_core.py).
const SECRET_NAME =
  /(^|_)(token|api_token|access_token|secret|client_secret|password|key|api_key|credentials|refresh_token|jwt)($|_)/;

/** Walks a JSON Schema and returns every problem Airbyte's spec/discovery tests would report. */
function schemaProblems(schema: unknown, path = '#'): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [];
  const node = schema as Record<string, unknown>;
  const problems: string[] = [];
  for (const keyword of FORBIDDEN_KEYWORDS) if (keyword in node) problems.push(`${path}: uses ${keyword}`);
  if ('additionalProperties' in node && node.additionalProperties !== true)
    problems.push(`${path}: additionalProperties must be absent or true`);
  if (Array.isArray(node.type) && !(node.type.length === 1 || (node.type.length === 2 && node.type.includes('null')))) {
    problems.push(`${path}: type ${JSON.stringify(node.type)} is neither one type nor [T, "null"]`);
  }
  if (node.format === 'date-time' && node.airbyte_type !== 'timestamp_with_timezone')
    problems.push(`${path}: date-time without airbyte_type timestamp_with_timezone`);
  const properties = node.properties;
  if (properties && typeof properties === 'object') {
    for (const [name, child] of Object.entries(properties))
      problems.push(...schemaProblems(child, `${path}/properties/${name}`));
  }
  if (node.items) problems.push(...schemaProblems(node.items, `${path}/items`));
  return problems;
}

function typesOf(property: unknown): string[] {
  const type = (property as { type?: unknown }).type;
  return Array.isArray(type) ? type.map(String) : [String(type)];
}

describe('given the stream registry when each schema is checked statically', () => {
  const ajv = new Ajv({ strict: false });
  for (const stream of ALL_STREAMS) {
    it(`then schemas/${stream.name}.json compiles, is an object with its primary key and cursor, and uses only Airbyte-safe keywords`, () => {
      const schema = loadStreamSchema(stream.name);
      expect(() => ajv.compile(schema)).not.toThrow();
      expect(schema.type).toBe('object');
      expect(schemaProblems(schema)).toEqual([]);
      const properties = schema.properties as Record<string, unknown>;
      for (const field of stream.primaryKey) {
        expect(properties[field], `primary key ${field} declared`).toBeDefined();
        // Primary keys are never null, never objects or arrays (docs/design.md).
        expect(typesOf(properties[field]).filter((t) => ['null', 'object', 'array'].includes(t))).toEqual([]);
        expect(schema.required, `primary key ${field} required`).toContain(field);
      }
      if (stream.kind === 'incremental') {
        const cursor = properties[stream.cursorField] as Record<string, unknown> | undefined;
        expect(cursor, `cursor ${stream.cursorField} declared`).toBeDefined();
        expect(cursor?.format).toBe('date-time');
        expect(typesOf(cursor)).not.toContain('null');
      }
    });
  }
});

describe('given the spec command', () => {
  let result: CliResult;
  beforeAll(async () => {
    result = await runCli(['spec']);
  });

  it('then it prints exactly one SPEC equal to the spec_path file (schemas/spec.json) and exits 0', () => {
    expect(result.code).toBe(0);
    expect(result.messages.map((m) => m.type)).toEqual(['SPEC']);
    const specPath = suiteTests('spec')[0]?.spec_path ?? 'schemas/spec.json';
    const onDisk: unknown = JSON.parse(readFileSync(join(REPO_ROOT, specPath), 'utf8'));
    // If this fails after a config change: `npm run spec:write` regenerates schemas/spec.json from the zod schema.
    expect(result.messages[0]?.spec).toEqual(onDisk);
  });

  it('then the connection specification uses only Airbyte-safe keywords and flags every secret', () => {
    const connection = (result.messages[0]?.spec as { connectionSpecification: Record<string, unknown> })
      .connectionSpecification;
    expect(schemaProblems(connection)).toEqual([]);
    for (const [name, property] of Object.entries(connection.properties as Record<string, Record<string, unknown>>)) {
      const isSecretName = SECRET_NAME.test(name);
      expect(property.airbyte_secret === true, `${name} airbyte_secret`).toBe(isSecretName);
    }
  });

  it('then the acceptance config (sample_config.json) validates against the connection specification', () => {
    // CAT's spec suite validates its config_path against connectionSpecification with jsonschema.
    const connection = (result.messages[0]?.spec as { connectionSpecification: Record<string, unknown> })
      .connectionSpecification;
    const ajv = new Ajv({ strict: false });
    ajvFormats.default(ajv);
    const validate = ajv.compile(connection);
    expect(validate(readRepoJson(SAMPLE_CONFIG_FILE)), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('given the fal emulator', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 60 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: cliEnv() });
  const config = (overrides = {}): string =>
    writeJson(dir, `config-${Math.random().toString(36).slice(2)}.json`, sampleConfig(emu.url, overrides));
  const catalogFile = (catalog: unknown): string =>
    writeJson(dir, `catalog-${Math.random().toString(36).slice(2)}.json`, catalog);

  describe('when check runs', () => {
    it('then a valid ADMIN key gives one CONNECTION_STATUS SUCCEEDED', async () => {
      const r = await cli(['check', '--config', config()]);
      expect(r.code).toBe(0);
      expect(
        r.messages
          .filter((m) => m.type === 'CONNECTION_STATUS')
          .map((m) => (m.connectionStatus as { status: string }).status),
      ).toEqual(['SUCCEEDED']);
    });

    it.each([
      [
        'invalid_config.json, an unknown key (401),',
        () => writeJson(dir, 'invalid_config.json', invalidConfig(emu.url)),
        /rejected the API key/,
      ],
      ['an API-scope key (403)', () => config({ api_key: API_KEY }), /ADMIN-scope key/],
      ['an invalid config', () => config({ lookback_days: -1 }), /lookback_days/],
    ])('then %s gives one CONNECTION_STATUS FAILED naming the cause, exit 0', async (_label, configPath, reason) => {
      const r = await cli(['check', '--config', configPath()]);
      expect(r.code).toBe(0);
      const status = r.messages
        .filter((m) => m.type === 'CONNECTION_STATUS')
        .map((m) => m.connectionStatus as { status: string; message: string });
      expect(status).toHaveLength(1);
      expect(status[0]?.status).toBe('FAILED');
      expect(status[0]?.message).toMatch(reason);
    });
  });

  describe('when discover runs', () => {
    it('then it prints one CATALOG whose streams are unique, typed and keyed as the registry says', async () => {
      const r = await cli(['discover', '--config', config()]);
      expect(r.code).toBe(0);
      const catalogs = r.messages.filter((m) => m.type === 'CATALOG');
      expect(catalogs).toHaveLength(1);
      const streams = (catalogs[0]?.catalog as { streams: Record<string, unknown>[] }).streams;
      const names = streams.map((s) => s.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBeGreaterThan(0);
      for (const entry of streams) {
        const stream = ALL_STREAMS.find((s) => s.name === entry.name);
        expect(stream, `registered stream ${String(entry.name)}`).toBeDefined();
        expect(entry.json_schema).toEqual(loadStreamSchema(String(entry.name)));
        expect((entry.supported_sync_modes as string[]).length).toBeGreaterThan(0);
        if (stream?.kind === 'incremental') {
          expect(entry).toMatchObject({
            source_defined_cursor: true,
            default_cursor_field: [stream.cursorField],
            is_resumable: true,
          });
          expect(entry.supported_sync_modes).toContain('incremental');
        }
      }
      // CAT builds its configured catalog from the discovered one and fails on a stream discover does not list.
      for (const configured of configuredCatalog().streams)
        expect(names, `configured_catalog.json stream ${configured.stream.name} is discovered`).toContain(
          configured.stream.name,
        );
    });
  });

  describe('when read runs configured_catalog.json (every stream, incremental where it can) from scratch', () => {
    let run: CliResult;
    let catalogPath: string;
    let discovered: string[];
    beforeAll(async () => {
      discovered = configuredCatalog().streams.map((s) => s.stream.name);
      catalogPath = catalogFile(configuredCatalog());
      run = await cli(['read', '--config', config(), '--catalog', catalogPath]);
    });

    it('then it exits 0 and every stream has records that match its schema with non-null primary keys', () => {
      expect(run.code, run.stderr).toBe(0);
      for (const name of discovered) {
        const stream = ALL_STREAMS.find((s) => s.name === name);
        const rows = records(run, name);
        expect(rows.length, `records of ${name}`).toBeGreaterThan(0);
        for (const row of rows) {
          assertRecordMatchesSchema(name, row);
          for (const field of stream?.primaryKey ?? []) expect(row[field] ?? null, `${name}.${field}`).not.toBeNull();
        }
      }
    });

    it('then every RECORD has an integer emitted_at and names a configured stream', () => {
      for (const m of run.messages.filter((x) => x.type === 'RECORD')) {
        const record = m.record as { stream: string; emitted_at: number };
        expect(Number.isInteger(record.emitted_at)).toBe(true);
        expect(discovered).toContain(record.stream);
      }
    });

    it('then each stream goes STARTED, RUNNING…, COMPLETE', () => {
      for (const name of discovered) {
        const seen = statuses(run, name);
        expect(seen.length).toBeGreaterThanOrEqual(3);
        expect(seen[0]).toBe('STARTED');
        expect(seen.at(-1)).toBe('COMPLETE');
        expect(new Set(seen.slice(1, -1))).toEqual(new Set(['RUNNING']));
      }
    });

    it('then each stream emits STREAM states whose recordCount equals the records since the previous state', () => {
      for (const name of discovered) {
        expect(states(run, name).length).toBeGreaterThanOrEqual(1);
        let since = 0;
        for (const m of run.messages) {
          if (m.type === 'RECORD' && (m.record as { stream: string }).stream === name) since++;
          if (m.type === 'STATE') {
            const state = m.state as {
              type: string;
              stream: { stream_descriptor: { name: string } };
              sourceStats: { recordCount: number };
            };
            expect(state.type).toBe('STREAM');
            if (state.stream.stream_descriptor.name !== name) continue;
            expect(state.sourceStats.recordCount).toBe(since);
            since = 0;
          }
        }
        expect(since, `records of ${name} after its last state`).toBe(0);
      }
    });

    it('then reading again from the final state yields different records (incremental moves on)', async () => {
      const statePath = writeJson(dir, 'state-final.json', finalStateFile(run));
      const second = await cli(['read', '--config', config(), '--catalog', catalogPath, '--state', statePath]);
      expect(second.code).toBe(0);
      for (const name of discovered.filter((n) => ALL_STREAMS.find((s) => s.name === n)?.kind === 'incremental')) {
        expect(records(second, name).length, name).toBeLessThan(records(run, name).length);
      }
    });

    it(
      'then replaying from each intermediate state returns at least the records the first run sent after it',
      async () => {
        // CAT test_read_sequential_slices: resume points are honest.
        for (const name of discovered.filter((n) => ALL_STREAMS.find((s) => s.name === n)?.kind === 'incremental')) {
          const all = states(run, name);
          const picks = [0, Math.floor(all.length / 2), all.length - 2].filter(
            (i, k, a) => i >= 0 && a.indexOf(i) === k,
          );
          for (const index of picks) {
            const checkpoint = all[index];
            if (!checkpoint) continue;
            const expected = all.slice(index + 1).reduce((n, s) => n + s.sourceStats.recordCount, 0);
            const statePath = writeJson(dir, `state-${name}-${index}.json`, [
              { type: 'STREAM', stream: checkpoint.stream },
            ]);
            const replay = await cli([
              'read',
              '--config',
              config(),
              '--catalog',
              catalogFile(configuredCatalog([name])),
              '--state',
              statePath,
            ]);
            expect(replay.code).toBe(0);
            expect(records(replay, name).length, `${name} from state #${index}`).toBeGreaterThanOrEqual(expected);
          }
        }
      },
      MULTI_RUN_TIMEOUT_MS,
    );
  });

  describe('when read runs with a far-future state (abnormal_state.json)', () => {
    it('then it reads no records and still emits a state of the same format', async () => {
      const incremental = ALL_STREAMS.filter((s) => s.kind === 'incremental');
      const future = futureState();
      const r = await cli([
        'read',
        '--config',
        config(),
        '--catalog',
        catalogFile(configuredCatalog(incremental.map((s) => s.name))),
        '--state',
        writeJson(dir, 'future.json', future),
      ]);
      expect(r.code).toBe(0);
      expect(records(r)).toEqual([]);
      for (const s of incremental) {
        const input = future.find((f) => f.stream.stream_descriptor.name === s.name)?.stream.stream_state;
        expect(input?.[s.cursorField], `abnormal_state.json has a ${s.cursorField} for ${s.name}`).toBeDefined();
        const out = states(r, s.name);
        expect(out.length).toBeGreaterThanOrEqual(1);
        expect(out.at(-1)?.stream.stream_state).toEqual(input);
      }
    });
  });

  describe('when read resumes from sample_state.json', () => {
    it("then it exits 0 and no stream's cursor ends before the sample state's", async () => {
      const sample =
        readRepoJson<{ stream: { stream_descriptor: { name: string }; stream_state: Record<string, string> } }[]>(
          SAMPLE_STATE_FILE,
        );
      const names = sample.map((s) => s.stream.stream_descriptor.name);
      const r = await cli([
        'read',
        '--config',
        config(),
        '--catalog',
        catalogFile(configuredCatalog(names)),
        '--state',
        writeJson(dir, 'sample_state.json', sample),
      ]);
      expect(r.code, r.stderr).toBe(0);
      for (const entry of sample) {
        const stream = ALL_STREAMS.find((s) => s.name === entry.stream.stream_descriptor.name);
        if (stream?.kind !== 'incremental') continue;
        const saved = Date.parse(entry.stream.stream_state[stream.cursorField] ?? '');
        const last = states(r, stream.name).at(-1)?.stream.stream_state[stream.cursorField];
        expect(Date.parse(String(last))).toBeGreaterThanOrEqual(saved);
      }
    });
  });

  describe('when read runs full refresh twice', () => {
    it(
      'then the first read is a subset of the second by primary key and emitted_at moves forward',
      async () => {
        const catalogPath = catalogFile(fullRefreshCatalog());
        const first = await cli(['read', '--config', config(), '--catalog', catalogPath]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        const second = await cli(['read', '--config', config(), '--catalog', catalogPath]);
        expect(first.code).toBe(0);
        expect(second.code).toBe(0);
        for (const stream of ALL_STREAMS) {
          const key = (row: Record<string, unknown>): string => JSON.stringify(stream.primaryKey.map((f) => row[f]));
          const later = new Set(records(second, stream.name).map(key));
          for (const row of records(first, stream.name))
            expect(later.has(key(row)), `${stream.name} ${key(row)}`).toBe(true);
        }
        const stamps = (r: CliResult): number[] =>
          r.messages.filter((m) => m.type === 'RECORD').map((m) => (m.record as { emitted_at: number }).emitted_at);
        expect(Math.max(...stamps(first))).toBeLessThan(Math.min(...stamps(second)));
      },
      MULTI_RUN_TIMEOUT_MS,
    );
  });

  describe('when the catalog is bogus', () => {
    it.each([
      [
        'an unknown stream',
        {
          streams: [
            {
              stream: {
                name: '__AIRBYTE__stream_that_does_not_exist',
                json_schema: {},
                supported_sync_modes: ['full_refresh'],
              },
              sync_mode: 'full_refresh',
              destination_sync_mode: 'overwrite',
            },
          ],
        },
      ],
      [
        'an invalid sync mode',
        {
          streams: [
            {
              stream: { name: ALL_STREAMS[0]?.name, json_schema: {}, supported_sync_modes: ['full_refresh'] },
              sync_mode: 'sideways',
              destination_sync_mode: 'overwrite',
            },
          ],
        },
      ],
    ])('then %s gives a TRACE ERROR (config_error), no records and a non-zero exit', async (label, catalog) => {
      const r = await cli([
        'read',
        '--config',
        config(),
        '--catalog',
        writeJson(dir, `bogus-${label.length}.json`, catalog),
      ]);
      expect(r.code).not.toBe(0);
      const errors = traces(r, 'ERROR');
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect((errors[0]?.error as { failure_type: string }).failure_type).toBe('config_error');
      expect(records(r)).toEqual([]);
    });
  });

  describe('when one stream fails mid-read', () => {
    it(
      'then it ends INCOMPLETE with a TRACE naming the stream and window, its state stays at the last completed window, the others complete, exit non-zero',
      async () => {
        const target = ALL_STREAMS.find((s) => s.kind === 'incremental');
        if (!target) throw new Error('no incremental stream');
        const d = await cli(['discover', '--config', config()]);
        const discovered = (
          d.messages.find((m) => m.type === 'CATALOG')?.catalog as { streams: { name: string }[] }
        ).streams.map((s) => s.name);
        // The endpoints each stream calls, from a read of that stream alone: a stream that shares the failing endpoint
        // (pricing reads /models/usage to learn endpoint ids) fails with it, rightly; every other stream must complete.
        const endpointsOf = new Map<string, Set<string>>();
        for (const name of discovered.filter((n) => n !== target.name)) {
          emu.requests.length = 0;
          await cli(['read', '--config', config(), '--catalog', catalogFile(configuredCatalog([name]))]);
          endpointsOf.set(name, new Set(emu.requests.map((r) => r.path)));
        }
        emu.requests.length = 0;
        const first = await cli([
          'read',
          '--config',
          config(),
          '--catalog',
          catalogFile(configuredCatalog([target.name])),
        ]);
        expect(states(first, target.name).length).toBeGreaterThanOrEqual(2);
        // Let the first window through (all its pages), then fail that stream's endpoint for good.
        const ownRequests = emu.requests.filter((r) => r.status === 200 && r.path !== '/v1/account/billing');
        const path = ownRequests[0]?.path ?? '';
        const firstWindowPages = ownRequests.filter(
          (r) => r.query.start?.[0] === ownRequests[0]?.query.start?.[0],
        ).length;
        expect(firstWindowPages).toBeGreaterThan(0);
        emu.faults.add({ path, after: firstWindowPages, times: Infinity, kind: 'status', status: 500 });
        try {
          const r = await cli([
            'read',
            '--config',
            config({ max_retry_seconds: 0 }),
            '--catalog',
            catalogFile(configuredCatalog(discovered)),
          ]);
          expect(r.code).not.toBe(0);
          expect(statuses(r, target.name).at(-1)).toBe('INCOMPLETE');
          const error = traces(r, 'ERROR').map(
            (t) => t.error as { message: string; failure_type: string; stream_descriptor?: { name: string } },
          );
          expect(error.find((e) => e.stream_descriptor?.name === target.name)?.failure_type).toBe('transient_error');
          const message = error.find((e) => e.stream_descriptor?.name === target.name)?.message ?? '';
          const failedWindowStart = /window (\S+)\//.exec(message)?.[1];
          expect(failedWindowStart, message).toBeDefined();
          const lastState = states(r, target.name).at(-1)?.stream.stream_state[target.cursorField];
          expect(lastState).toBeDefined();
          expect(Date.parse(String(lastState))).toBeLessThanOrEqual(Date.parse(String(failedWindowStart)));
          const independent = discovered.filter((n) => n !== target.name && !endpointsOf.get(n)?.has(path));
          expect(independent.length).toBeGreaterThan(0);
          for (const other of independent) expect(statuses(r, other).at(-1), other).toBe('COMPLETE');
          // The failed stream kept its first window's checkpoint.
          expect(states(r, target.name).length).toBeGreaterThanOrEqual(1);
        } finally {
          emu.faults.clear();
        }
      },
      MULTI_RUN_TIMEOUT_MS,
    );
  });

  it('then no output of any command contains the API key', async () => {
    const invalid = invalidConfig(emu.url);
    const r = await cli([
      'read',
      '--config',
      writeJson(dir, 'invalid-read.json', invalid),
      '--catalog',
      catalogFile(configuredCatalog()),
    ]);
    expect(r.code).not.toBe(0);
    const key = String(invalid.api_key);
    const secret = key.split(':')[1] ?? key;
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
    expect(FIXED_NOW).toBeTruthy();
  });
});
