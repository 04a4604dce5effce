/**
 * The Airbyte acceptance-test inputs stay complete and honest as streams are added: acceptance-test-config.yml
 * declares the six suites (high strictness), every file it names exists, configured_catalog.json and
 * abnormal_state.json cover every registered stream, the sample config and state parse, and no committed file
 * carries a key other than the emulator's fakes. A stream added to ALL_STREAMS without its entries here fails
 * with the entry to add.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { parseCatalog } from '../source-fal/catalog.js';
import { parseConfig } from '../source-fal/config.js';
import { findKey, FIXTURE_KEYS } from '../source-fal/emulator/keys.js';
import { catalogEntry } from '../source-fal/source.js';
import { cursorFromState, parseStateFile } from '../source-fal/state.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import {
  ACCEPTANCE_CONFIG_FILE,
  acceptanceConfig,
  type ConfiguredStream,
  readRepoJson,
  SAMPLE_CONFIG_FILE,
  SAMPLE_STATE_FILE,
  SECRET_CONFIG_FILE,
  type SuiteTest,
  suiteTests,
} from './helpers/acceptance.js';
import { REPO_ROOT } from './helpers/cli.js';
import { isDockerIgnored } from './helpers/dockerfile.js';

const SUITES = ['spec', 'connection', 'discovery', 'basic_read', 'full_refresh', 'incremental'];
const config = acceptanceConfig();
const allTests = (): SuiteTest[] => SUITES.flatMap((suite) => suiteTests(suite));
const PATH_KEYS = ['spec_path', 'config_path', 'configured_catalog_path'] as const;

/** The configured-catalog entry a registered stream should have (json_schema left empty; CAT fills it from discover). */
function expectedEntry(name: string): ConfiguredStream {
  const stream = ALL_STREAMS.find((s) => s.name === name);
  if (!stream) throw new Error(`unknown stream ${name}`);
  const entry = catalogEntry(stream);
  const incremental = stream.kind === 'incremental';
  return {
    stream: { ...entry, json_schema: {} },
    sync_mode: incremental ? 'incremental' : 'full_refresh',
    ...(incremental ? { cursor_field: [stream.cursorField] } : {}),
    destination_sync_mode: incremental ? 'append_dedup' : 'overwrite',
    primary_key: entry.source_defined_primary_key,
  };
}

describe('given acceptance-test-config.yml', () => {
  it('then it names our image with the dev tag and runs at high strictness', () => {
    const metadata = (
      parseYaml(readFileSync(join(REPO_ROOT, 'metadata.yaml'), 'utf8')) as { data: { dockerRepository: string } }
    ).data;
    expect(config.connector_image).toBe(`${metadata.dockerRepository}:dev`);
    expect(config.test_strictness_level).toBe('high');
  });

  it('then it declares the six core suites, each with tests or an honest bypass_reason, never both', () => {
    expect(Object.keys(config.acceptance_tests).sort()).toEqual([...SUITES].sort());
    for (const suite of SUITES) {
      const entry = config.acceptance_tests[suite] ?? {};
      const hasTests = Array.isArray(entry.tests) && entry.tests.length > 0;
      const hasBypass = typeof entry.bypass_reason === 'string' && entry.bypass_reason.trim().length > 20;
      expect(hasTests !== hasBypass, `${suite}: tests xor bypass_reason`).toBe(true);
    }
  });

  it('then every path it names exists, except the git- and docker-ignored secrets/', () => {
    const gitignore = readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8');
    const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
    const paths = allTests()
      .flatMap((t) => [...PATH_KEYS.map((k) => t[k]), t.expect_records?.path, t.future_state?.future_state_path])
      .filter((p): p is string => typeof p === 'string');
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) {
      if (path.startsWith('secrets/')) {
        expect(gitignore.split('\n').map((l) => l.trim())).toContain('secrets/');
        expect(isDockerIgnored(path, dockerignore), `${path} stays out of the image build context`).toBe(true);
        continue;
      }
      expect(existsSync(join(REPO_ROOT, path)), `${path} exists`).toBe(true);
    }
    expect(paths).toContain(SECRET_CONFIG_FILE);
  });

  it('then the connection suite expects SUCCEEDED for the real config and FAILED for invalid_config.json', () => {
    const statuses = suiteTests('connection').map((t) => [t.config_path, t.status]);
    expect(statuses).toContainEqual([SECRET_CONFIG_FILE, 'succeed']);
    expect(statuses).toContainEqual(['integration_tests/invalid_config.json', 'failed']);
  });

  it('then high strictness holds: basic_read uses the discovered catalog and handles expect_records; incremental has a future state for every incremental stream', () => {
    for (const test of suiteTests('basic_read')) {
      expect(test.configured_catalog_path).toBeUndefined();
      const expected = test.expect_records;
      expect(
        Boolean(expected?.path) || (expected?.bypass_reason ?? '').trim().length > 20,
        'expect_records path or bypass_reason',
      ).toBe(true);
      for (const empty of test.empty_streams ?? [])
        expect((empty.bypass_reason ?? '').length, `empty stream ${empty.name}`).toBeGreaterThan(0);
    }
    for (const test of suiteTests('incremental')) {
      const path = test.future_state?.future_state_path;
      expect(path).toBeDefined();
      const future = parseStateFile(readRepoJson(path ?? ''));
      const missing = new Set((test.future_state?.missing_streams ?? []).map((m) => m.name));
      for (const stream of ALL_STREAMS.filter((s) => s.kind === 'incremental')) {
        if (missing.has(stream.name)) continue;
        expect(
          future.has(stream.name),
          `${path} needs {"type":"STREAM","stream":{"stream_descriptor":{"name":"${stream.name}"},"stream_state":{"${stream.kind === 'incremental' ? stream.cursorField : ''}":"2099-01-01T00:00:00Z"}}}`,
        ).toBe(true);
      }
    }
  });
});

describe('given integration_tests/configured_catalog.json', () => {
  const catalog = readRepoJson<{ streams: ConfiguredStream[] }>('integration_tests/configured_catalog.json');

  it('then it parses as our connector parses a catalog', () => {
    expect(() => parseCatalog(catalog)).not.toThrow();
  });

  it('then it lists every registered stream exactly once, incremental where the stream can be', () => {
    const names = catalog.streams.map((s) => s.stream.name);
    expect(new Set(names).size, 'no stream twice').toBe(names.length);
    for (const stream of ALL_STREAMS) {
      const entry = catalog.streams.find((s) => s.stream.name === stream.name);
      expect(
        entry,
        `add to integration_tests/configured_catalog.json:\n${JSON.stringify(expectedEntry(stream.name), null, 2)}`,
      ).toBeDefined();
    }
    expect(
      names.filter((n) => !ALL_STREAMS.some((s) => s.name === n)),
      'streams that are not registered',
    ).toEqual([]);
  });

  it('then each entry agrees with the registry on sync modes, cursor and primary key', () => {
    for (const entry of catalog.streams) {
      const expected = expectedEntry(entry.stream.name);
      const { json_schema: _schema, ...declared } = entry.stream;
      const { json_schema: _none, ...wanted } = expected.stream;
      expect(
        { ...entry, stream: declared },
        `${entry.stream.name}; expected:\n${JSON.stringify(expected, null, 2)}`,
      ).toEqual({ ...expected, stream: wanted });
    }
  });
});

describe('given the sample config, invalid config and states', () => {
  it('then sample_config.json is a valid config for the local emulator, with an emulator fixture key that reads every stream', () => {
    const sample = readRepoJson<Record<string, unknown>>(SAMPLE_CONFIG_FILE);
    expect(() => parseConfig(sample, Date.now())).not.toThrow();
    const url = new URL(String(sample.base_url));
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.pathname).toBe('/v1');
    const key = findKey(String(sample.api_key));
    expect(key, 'an emulator fixture key').toBeDefined();
    expect(key?.scope).toBe('ADMIN');
  });

  it('then invalid_config.json is a valid config whose key no account has, so check fails at fal (401), not in validation', () => {
    const invalid = readRepoJson<Record<string, unknown>>('integration_tests/invalid_config.json');
    expect(() => parseConfig(invalid, Date.now())).not.toThrow();
    expect(String(invalid.api_key)).toMatch(/^[0-9a-f-]{36}:[0-9a-f]{32}$/);
    expect(findKey(String(invalid.api_key))).toBeUndefined();
    // No base_url: under CAT it goes to api.fal.ai, which answers 401 for an unknown key.
    expect(invalid.base_url).toBeUndefined();
  });

  it.each([
    [SAMPLE_STATE_FILE, (ms: number) => ms < Date.parse('2090-01-01T00:00:00Z')],
    ['integration_tests/abnormal_state.json', (ms: number) => ms >= Date.parse('2090-01-01T00:00:00Z')],
  ])('then %s is a STREAM-state array with a valid cursor for every incremental stream', (path, plausible) => {
    const raw = readRepoJson<unknown[]>(path);
    expect(Array.isArray(raw)).toBe(true);
    for (const message of raw) expect(message).toMatchObject({ type: 'STREAM' });
    const states = parseStateFile(raw);
    for (const stream of ALL_STREAMS) {
      if (stream.kind !== 'incremental') continue;
      const cursor = cursorFromState(stream.name, stream.cursorField, states.get(stream.name));
      expect(cursor, `${path}: ${stream.name}.${stream.cursorField}`).toBeDefined();
      expect(plausible(cursor ?? NaN), `${path}: ${stream.name} cursor`).toBe(true);
    }
    for (const name of states.keys())
      expect(
        ALL_STREAMS.some((s) => s.name === name),
        `${path}: ${name} is registered`,
      ).toBe(true);
  });
});

describe('given the committed files', () => {
  it('then every fal-shaped key in them is an emulator fixture or the deliberately unknown invalid_config.json key', () => {
    const invalid = String(readRepoJson<Record<string, unknown>>('integration_tests/invalid_config.json').api_key);
    const known = new Set([...FIXTURE_KEYS.map((k) => k.key), invalid]);
    const files = [
      'README.md',
      'CHANGELOG.md',
      'CONTRIBUTING.md',
      ...readdirSync(join(REPO_ROOT, 'docs')).map((f) => `docs/${f}`),
      ACCEPTANCE_CONFIG_FILE,
      'metadata.yaml',
      ...readdirSync(join(REPO_ROOT, 'integration_tests'))
        .filter((f) => /\.(json|ya?ml|md)$/.test(f))
        .map((f) => `integration_tests/${f}`),
    ];
    for (const file of files) {
      for (const match of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(
        /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{32}/g,
      )) {
        expect(known.has(match[0]), `${file} holds a key that is not an emulator fixture`).toBe(true);
      }
    }
  });
});
