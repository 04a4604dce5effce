import { describe, expect, it } from 'vitest';

import { thrownConfigError } from '../integration_tests/helpers/thrown.js';
import { parseCatalog } from './catalog.js';
import { ALL_STREAMS } from './streams/index.js';
import { usage } from './streams/usage.js';

function entry(name: string, syncMode: string): unknown {
  return {
    stream: { name, json_schema: {}, supported_sync_modes: ['full_refresh', 'incremental'] },
    sync_mode: syncMode,
    destination_sync_mode: 'append_dedup',
  };
}

describe('parseCatalog', () => {
  it('given an unknown stream, a bad sync_mode and a duplicate when parsed then one ConfigError lists all three', () => {
    // Regression: reporting only the first problem made users fix a catalog one run at a time.
    const error = thrownConfigError(() =>
      parseCatalog({
        streams: [entry('usages', 'incremental'), entry('usage', 'incremental_append'), entry('usage', 'full_refresh')],
      }),
    );
    expect(error.code).toBe('invalid_catalog');
    expect(error.failureType).toBe('config_error');
    expect(error.message).toBe(
      `The catalog has 3 problems: unknown stream "usages" (known streams: ${ALL_STREAMS.map((s) => s.name).join(', ')}); ` +
        'stream usage has sync_mode "incremental_append"; use one of full_refresh, incremental; ' +
        'stream usage is listed twice.',
    );
  });

  it.each([
    ['incremental', 'incremental'],
    ['full_refresh', 'full_refresh'],
  ] as const)('given usage in %s when parsed then one selection with that mode', (syncMode, mode) => {
    expect(parseCatalog({ streams: [entry('usage', syncMode)] })).toEqual([{ stream: usage, mode }]);
  });

  it('given an empty stream list when parsed then no selections', () => {
    expect(parseCatalog({ streams: [] })).toEqual([]);
  });

  it.each([
    null,
    [],
    { streams: 'usage' },
    { streams: [{ stream: { name: 'usage' } }] },
    { streams: [{ sync_mode: 'full_refresh' }] },
  ])('given %j when parsed then a ConfigError says it is not a ConfiguredAirbyteCatalog', (json) => {
    const error = thrownConfigError(() => parseCatalog(json));
    expect(error.code).toBe('invalid_catalog');
    expect(error.message).toMatch(/^The catalog is not a ConfiguredAirbyteCatalog/);
  });
});
