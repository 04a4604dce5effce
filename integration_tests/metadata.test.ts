/**
 * metadata.yaml, the file Airbyte's registry reads (https://docs.airbyte.com/understanding-airbyte/airbyte-protocol):
 * required fields with the right values, no unknown keys (the schema has additionalProperties: false), and one
 * version everywhere: package.json = dockerImageTag = the Dockerfile label (dockerfile.test.ts) = the newest row of
 * CHANGELOG.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { DEFAULT_MAX_RETRY_SECONDS } from '../source-fal/config.js';
import { DOCUMENTATION_URL, spec } from '../source-fal/source.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import { REPO_ROOT } from './helpers/cli.js';

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { name: string; version: string; license: string };
const lock = JSON.parse(read('package-lock.json')) as {
  version: string;
  packages: Record<string, { version?: string }>;
};
const file = parseYaml(read('metadata.yaml')) as { metadataSpecVersion: unknown; data: Record<string, unknown> };
const data = file.data;

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

// Keys of ConnectorMetadataDefinitionV0 `data` (https://docs.airbyte.com/understanding-airbyte/airbyte-protocol); anything else is rejected by the registry.
const KNOWN_DATA_KEYS = new Set([
  'name',
  'icon',
  'definitionId',
  'connectorBuildOptions',
  'connectorTestSuitesOptions',
  'connectorType',
  'dockerRepository',
  'dockerImageTag',
  'supportsDbt',
  'supportsNormalization',
  'license',
  'documentationUrl',
  'externalDocumentationUrls',
  'githubIssueLabel',
  'maxSecondsBetweenMessages',
  'releaseDate',
  'protocolVersion',
  'erdUrl',
  'connectorSubtype',
  'releaseStage',
  'supportLevel',
  'tags',
  'registryOverrides',
  'registries',
  'remoteRegistries',
  'allowedHosts',
  'releases',
  'normalizationConfig',
  'suggestedStreams',
  'resourceRequirements',
  'ab_internal',
  'supportsRefreshes',
  'supportsFileTransfer',
  'supportsDataActivation',
  'connectorIPCOptions',
]);

const compareSemver = (a: string, b: string): number => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
};

/** Rows of CHANGELOG.md's table: | version | date | change |. */
function changelog(): { version: string; date: string; change: string }[] {
  const section = read('CHANGELOG.md');
  return section
    .split('\n')
    .filter((line) => /^\|\s*\d/.test(line))
    .map((line) => {
      const [version = '', date = '', change = ''] = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
      return { version, date, change };
    });
}

describe('given metadata.yaml', () => {
  it('then it is metadata spec 1.0 with every required field and no key the registry schema does not know', () => {
    expect(file.metadataSpecVersion).toBe('1.0');
    for (const key of [
      'name',
      'definitionId',
      'connectorType',
      'dockerRepository',
      'dockerImageTag',
      'license',
      'documentationUrl',
      'githubIssueLabel',
      'connectorSubtype',
      'releaseStage',
    ]) {
      expect(data[key], key).toBeTruthy();
    }
    expect(Object.keys(data).filter((key) => !KNOWN_DATA_KEYS.has(key))).toEqual([]);
    expect(Object.keys(file).sort()).toEqual(['data', 'metadataSpecVersion']);
  });

  it('then it describes an alpha community API source under our own image name, MIT, in TypeScript', () => {
    expect(data).toMatchObject({
      connectorType: 'source',
      connectorSubtype: 'api',
      releaseStage: 'alpha',
      supportLevel: 'community',
      license: pkg.license,
    });
    expect(data.license).toBe('MIT');
    expect(String(data.definitionId)).toMatch(UUID);
    expect(data.dockerRepository).toBe(`sourcefal/${pkg.name}`);
    expect(data.tags).toContain('language:typescript');
    for (const tag of data.tags as string[]) expect(tag).toMatch(/^(language|cdk|keyword):\S+$/);
  });

  it('then documentationUrl is the one the spec prints', () => {
    expect(data.documentationUrl).toBe(DOCUMENTATION_URL);
    expect(spec().documentationUrl).toBe(data.documentationUrl);
  });

  it('then allowedHosts lists only fal’s API host, the default base_url host', () => {
    expect(data.allowedHosts).toEqual({ hosts: ['api.fal.ai'] });
    const defaultBase = (spec().connectionSpecification as { properties: { base_url: { default: string } } }).properties
      .base_url.default;
    expect(new URL(defaultBase).host).toBe('api.fal.ai');
  });

  it('then maxSecondsBetweenMessages outlasts the default retry budget of a single request with room to spare', () => {
    const seconds = data.maxSecondsBetweenMessages as number;
    expect(Number.isInteger(seconds)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(4 * DEFAULT_MAX_RETRY_SECONDS);
    expect(seconds).toBeLessThanOrEqual(3 * 3600 * 2);
  });

  it('then dockerImageTag, package.json, package-lock.json and the newest changelog row carry one version', () => {
    expect(pkg.version).toMatch(SEMVER);
    expect(data.dockerImageTag).toBe(pkg.version);
    expect(lock.version).toBe(pkg.version);
    expect(lock.packages['']?.version).toBe(pkg.version);
    const rows = changelog();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]?.version, 'the newest release is the first row of CHANGELOG.md').toBe(pkg.version);
  });

  it('then the changelog is newest first, one row per version, with dates that never go forward down the table', () => {
    const rows = changelog();
    for (const row of rows) {
      expect(row.version).toMatch(SEMVER);
      expect(row.date).toMatch(DATE);
      expect(row.change.length).toBeGreaterThan(0);
    }
    for (let i = 1; i < rows.length; i++) {
      expect(
        compareSemver(rows[i - 1]?.version ?? '', rows[i]?.version ?? ''),
        `${rows[i - 1]?.version} above ${rows[i]?.version}`,
      ).toBeGreaterThan(0);
      expect((rows[i - 1]?.date ?? '') >= (rows[i]?.date ?? '')).toBe(true);
    }
    expect(data.releaseDate, 'releaseDate is the first release').toBe(rows.at(-1)?.date);
  });

  it('then releases.breakingChanges, when present, are keyed by released semver versions and name registered streams', () => {
    const releases = data.releases as { breakingChanges?: Record<string, Record<string, unknown>> } | undefined;
    if (releases === undefined) return;
    const breaking = releases.breakingChanges ?? {};
    // The registry schema requires at least one entry once `releases` is there.
    expect(Object.keys(breaking).length).toBeGreaterThan(0);
    const versions = new Set(changelog().map((row) => row.version));
    const streams = new Set(ALL_STREAMS.map((s) => s.name));
    for (const [version, change] of Object.entries(breaking)) {
      expect(version).toMatch(SEMVER);
      expect(versions.has(version), `${version} has a changelog row`).toBe(true);
      expect(compareSemver(version, pkg.version)).toBeLessThanOrEqual(0);
      expect(String(change.message ?? '').length).toBeGreaterThan(0);
      expect(String(change.upgradeDeadline ?? '')).toMatch(DATE);
      for (const scope of (change.scopedImpact as { impactedStreams?: string[] }[] | undefined) ?? []) {
        for (const stream of scope.impactedStreams ?? []) expect(streams.has(stream), stream).toBe(true);
      }
    }
  });
});
