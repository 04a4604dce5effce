/**
 * The Airbyte acceptance-test inputs (acceptance-test-config.yml and the files it names), read the way CAT reads
 * them, so the conformance suite runs on the very files a user with Docker hands to CAT. The one substitution:
 * `secrets/config.json` (a real key, never committed) becomes integration_tests/sample_config.json pointed at the
 * running emulator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { REPO_ROOT } from './cli.js';

export const ACCEPTANCE_CONFIG_FILE = 'acceptance-test-config.yml';
export const SAMPLE_CONFIG_FILE = 'integration_tests/sample_config.json';
export const SAMPLE_STATE_FILE = 'integration_tests/sample_state.json';
/** What CAT reads the real config from; git-ignored. */
export const SECRET_CONFIG_FILE = 'secrets/config.json';

export interface SuiteTest {
  config_path?: string;
  configured_catalog_path?: string;
  spec_path?: string;
  status?: 'succeed' | 'failed' | 'exception';
  timeout_seconds?: number;
  expect_records?: { path?: string; bypass_reason?: string };
  empty_streams?: { name: string; bypass_reason?: string }[];
  future_state?: {
    future_state_path?: string;
    bypass_reason?: string;
    missing_streams?: { name: string; bypass_reason?: string }[];
  };
  backward_compatibility_tests_config?: { disable_for_version?: string; previous_connector_version?: string };
  [key: string]: unknown;
}

export interface AcceptanceConfig {
  connector_image: string;
  test_strictness_level?: 'low' | 'high';
  acceptance_tests: Record<string, { tests?: SuiteTest[]; bypass_reason?: string }>;
}

export const readRepoJson = <T = unknown>(path: string): T =>
  JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as T;

export function acceptanceConfig(): AcceptanceConfig {
  return parseYaml(readFileSync(join(REPO_ROOT, ACCEPTANCE_CONFIG_FILE), 'utf8')) as AcceptanceConfig;
}

export function suiteTests(suite: string): SuiteTest[] {
  return acceptanceConfig().acceptance_tests[suite]?.tests ?? [];
}

/** The first test of a suite that sets `key`, and that value. */
function firstPath(suite: string, pick: (test: SuiteTest) => string | undefined): string {
  for (const test of suiteTests(suite)) {
    const path = pick(test);
    if (path) return path;
  }
  throw new Error(`${ACCEPTANCE_CONFIG_FILE} names no such path in suite ${suite}`);
}

/** integration_tests/sample_config.json with `base_url` set to the emulator: the stand-in for secrets/config.json. */
export function sampleConfig(baseUrl: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...readRepoJson<Record<string, unknown>>(SAMPLE_CONFIG_FILE), base_url: baseUrl, ...overrides };
}

/** The config of the connection test expecting FAILED, sent to the emulator instead of fal. */
export function invalidConfig(baseUrl: string): Record<string, unknown> {
  const path = firstPath('connection', (t) => (t.status === 'failed' ? t.config_path : undefined));
  return { ...readRepoJson<Record<string, unknown>>(path), base_url: baseUrl };
}

export interface ConfiguredStream {
  stream: { name: string; [key: string]: unknown };
  sync_mode: 'full_refresh' | 'incremental';
  destination_sync_mode: string;
  cursor_field?: string[];
  primary_key?: string[][];
}

/** The incremental suite's configured catalog (integration_tests/configured_catalog.json), optionally narrowed. */
export function configuredCatalog(names?: readonly string[]): { streams: ConfiguredStream[] } {
  const catalog = readRepoJson<{ streams: ConfiguredStream[] }>(
    firstPath('incremental', (t) => t.configured_catalog_path),
  );
  return { streams: catalog.streams.filter((s) => names === undefined || names.includes(s.stream.name)) };
}

/** The full_refresh suite's catalog as CAT turns it (full_refresh_only_catalog): sync_mode full_refresh, the rest kept. */
export function fullRefreshCatalog(): { streams: ConfiguredStream[] } {
  const catalog = readRepoJson<{ streams: ConfiguredStream[] }>(
    firstPath('full_refresh', (t) => t.configured_catalog_path),
  );
  return { streams: catalog.streams.map((s) => ({ ...s, sync_mode: 'full_refresh' })) };
}

/** The incremental suite's far-future state (integration_tests/abnormal_state.json). */
export function futureState(): {
  type: 'STREAM';
  stream: { stream_descriptor: { name: string }; stream_state: Record<string, unknown> };
}[] {
  return readRepoJson(firstPath('incremental', (t) => t.future_state?.future_state_path));
}
