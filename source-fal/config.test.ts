import { afterEach, describe, expect, it } from 'vitest';

import { connectionSpecification, DEFAULT_BASE_URL, parseConfig, unknownFieldsWarning } from './config.js';
import { ConfigError } from './errors.js';
import { clearSecretsForTest } from './redact.js';
import { DAY_MS } from './time.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30, 0);
const KEY = 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f';

/** Runs parseConfig expecting a ConfigError and returns it. */
function configError(raw: unknown, nowMs = NOW): ConfigError {
  try {
    parseConfig(raw, nowMs);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('parseConfig accepted the config');
}

afterEach(() => clearSecretsForTest());

describe('parseConfig', () => {
  it('given several bad fields when parsed then one ConfigError names every one of them', () => {
    // Regression: fail-fast validation made users fix a config one field per run.
    const error = configError({ lookback_days: -1, colour: 'blue', base_url: 'ftp://fal.example' });
    expect(error.code).toBe('invalid_config');
    expect(error.failureType).toBe('config_error');
    expect(error.message).toMatch(/^The config has 3 problems: /);
    expect(error.message).toContain('api_key is required');
    expect(error.message).toContain('lookback_days must be 0 or more');
    expect(error.message).toContain('base_url must be an absolute http(s) URL');
    // An unknown field is not a problem: Airbyte keeps old fields in saved configs across upgrades.
    expect(error.message).not.toContain('colour');
  });

  it('given fields this version does not know when parsed then they are ignored and one warning names each, with the closest known field', () => {
    const config = parseConfig({ api_key: KEY, start: '2026-01-01', lookbak_days: 2, colour: 'blue' }, NOW);
    expect(config.raw).not.toHaveProperty('start');
    expect(config.unknownFields).toEqual([
      { name: 'start', closest: 'start_date' },
      { name: 'lookbak_days', closest: 'lookback_days' },
      { name: 'colour', closest: undefined },
    ]);
    expect(unknownFieldsWarning(config)).toMatch(
      /^Ignoring "start" \(did you mean start_date\?\), "lookbak_days" \(did you mean lookback_days\?\), "colour": not source-fal config fields/,
    );
    expect(unknownFieldsWarning(parseConfig({ api_key: KEY }, NOW))).toBeUndefined();
  });

  it('given only an api_key when parsed then every default is filled in against the run clock', () => {
    const config = parseConfig({ api_key: KEY }, NOW);
    expect(config).toEqual({
      apiKey: KEY,
      baseUrl: DEFAULT_BASE_URL,
      startMs: NOW - 30 * DAY_MS,
      endMs: NOW,
      nowMs: NOW,
      lookbackDays: 3,
      usageGranularity: 'day',
      maxRetrySeconds: 600,
      maxConcurrentRequests: 4,
      unknownFields: [],
      endpointIds: [],
      raw: {
        api_key: KEY,
        lookback_days: 3,
        usage_granularity: 'day',
        base_url: 'https://api.fal.ai/v1',
        max_retry_seconds: 600,
        max_concurrent_requests: 4,
      },
    });
  });

  it('given endpoint_ids with padding and a repeat when parsed then they are trimmed and deduplicated', () => {
    expect(
      parseConfig({ api_key: KEY, endpoint_ids: [' fal-ai/flux/dev', 'fal-ai/veo3', 'fal-ai/flux/dev'] }, NOW)
        .endpointIds,
    ).toEqual(['fal-ai/flux/dev', 'fal-ai/veo3']);
  });

  it('given endpoint_ids that is not a list of non-empty strings when parsed then the problem names the field', () => {
    expect(configError({ api_key: KEY, endpoint_ids: 'fal-ai/flux/dev' }).message).toContain(
      'endpoint_ids must be a list',
    );
    expect(configError({ api_key: KEY, endpoint_ids: ['fal-ai/flux/dev', ' '] }).message).toContain(
      'endpoint_ids must not contain an empty id',
    );
  });

  it('given an api_key with surrounding whitespace when parsed then it is trimmed', () => {
    // A pasted key with a trailing newline would otherwise fail auth with a confusing 401.
    expect(parseConfig({ api_key: `  ${KEY}\n` }, NOW).apiKey).toBe(KEY);
  });

  it.each([
    ['an inner space', 'kid-7f3a:9c1d2e3f 4a5b6c7d8e9f'],
    ['a line break', 'kid-7f3a:9c1d2e3f\n4a5b6c7d8e9f'],
    ['a non-ASCII character', 'kid-7f3a:9c1d2e3f€4a5b6c7d8e9f'],
  ])(
    'given an api_key with %s when parsed then a ConfigError asks to paste it exactly, without quoting it',
    (_label, key) => {
      // Regression: undici refused the Authorization header mid-run and the user saw "Unexpected error ... a bug".
      const error = configError({ api_key: key });
      expect(error.message).toContain('api_key contains spaces, line breaks or non-ASCII characters');
      expect(error.message).not.toContain('9c1d2e3f');
    },
  );

  it('given a base_url with a trailing slash when parsed then the slash is dropped', () => {
    expect(parseConfig({ api_key: KEY, base_url: 'http://127.0.0.1:8080/v1/' }, NOW).baseUrl).toBe(
      'http://127.0.0.1:8080/v1',
    );
  });

  it('given a plain end_date when parsed then the end is the next UTC midnight, so that whole day is read', () => {
    // Regression: an end_date of 2026-03-31 that ends at 2026-03-31T00:00Z silently drops the last day.
    const config = parseConfig({ api_key: KEY, start_date: '2026-03-01', end_date: '2026-03-31' }, NOW);
    expect(config.startMs).toBe(Date.UTC(2026, 2, 1));
    expect(config.endMs).toBe(Date.UTC(2026, 3, 1));
  });

  it('given a timestamp end_date when parsed then it is the exclusive end as written', () => {
    const config = parseConfig({ api_key: KEY, start_date: '2026-03-01', end_date: '2026-03-31T12:00:00+02:00' }, NOW);
    expect(config.endMs).toBe(Date.UTC(2026, 2, 31, 10));
  });

  it('given an end_date after now when parsed then the end is now', () => {
    const config = parseConfig({ api_key: KEY, start_date: '2026-07-01', end_date: '2026-12-31' }, NOW);
    expect(config.endMs).toBe(NOW);
  });

  it('given start_date and end_date on the same plain day when parsed then that one day is read', () => {
    const config = parseConfig({ api_key: KEY, start_date: '2026-03-05', end_date: '2026-03-05' }, NOW);
    expect(config.endMs - config.startMs).toBe(DAY_MS);
  });

  it('given a start_date after the end_date when parsed then a ConfigError says to move one of them', () => {
    const error = configError({ api_key: KEY, start_date: '2026-03-10', end_date: '2026-03-01' });
    expect(error.message).toBe(
      'The config has a problem: end_date (2026-03-01) must be after start_date (2026-03-10): move end_date later or start_date earlier.',
    );
  });

  it('given a start_date in the future when parsed then a ConfigError says so', () => {
    const error = configError({ api_key: KEY, start_date: '2026-08-10' });
    expect(error.message).toBe(
      'The config has a problem: start_date (2026-08-10) is in the future: set it to a past date.',
    );
  });

  it('given a start_date of today when parsed then it is accepted', () => {
    expect(parseConfig({ api_key: KEY, start_date: '2026-07-27' }, NOW).startMs).toBe(Date.UTC(2026, 6, 27));
  });

  it.each([
    ['start_date', '2026-02-30'],
    ['start_date', '2026-02-30T00:00:00Z'],
    ['end_date', '2026-13-01'],
    ['start_date', '01/02/2026'],
  ])('given %s %j when parsed then a ConfigError names the field', (field, value) => {
    expect(configError({ api_key: KEY, [field]: value }).message).toContain(`${field}:`);
  });

  it.each([
    [{ api_key: '   ' }, 'The config has a problem: api_key is empty: paste a fal ADMIN-scope key.'],
    [
      { api_key: KEY, usage_granularity: 'week' },
      'The config has a problem: usage_granularity must be "hour" or "day".',
    ],
    [
      { api_key: KEY, lookback_days: 1.5 },
      'The config has a problem: lookback_days must be a whole number of days, e.g. 3.',
    ],
    [
      { api_key: KEY, max_retry_seconds: 90_000 },
      'The config has a problem: max_retry_seconds must be at most 86400 (one day).',
    ],
  ])('given %j when parsed then the message is exact', (raw, message) => {
    expect(configError(raw).message).toBe(message);
  });

  it.each([null, 'api_key=abc', [], 42])(
    'given %j instead of an object when parsed then a ConfigError asks for an object',
    (raw) => {
      expect(configError(raw).message).toBe('The config must be a JSON object such as {"api_key": "..."}.');
    },
  );

  it('given an invalid config that echoes the api_key when parsed then the message never contains the key or its secret half', () => {
    // The key pasted as a field name is echoed by the unknown-field warning; redaction must catch it.
    expect(unknownFieldsWarning(parseConfig({ api_key: KEY, [KEY]: true }, NOW))).toContain('"****"');
    expect(unknownFieldsWarning(parseConfig({ api_key: KEY, [KEY]: true }, NOW))).not.toContain('9c1d2e3f4a5b6c7d8e9f');
    const error = configError({ api_key: KEY, [KEY]: true, lookback_days: -1, start_date: KEY });
    expect(error.message).not.toContain(KEY);
    expect(error.message).not.toContain('9c1d2e3f4a5b6c7d8e9f');
    expect(error.describe()).not.toContain(KEY);
  });
});

describe('connectionSpecification', () => {
  it('given the zod schema when rendered then no object forbids additional properties', () => {
    // Airbyte's acceptance tests reject `additionalProperties: false` anywhere in a spec.
    const offending: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'additionalProperties' && value === false) offending.push(path);
        walk(value, `${path}/${key}`);
      }
    };
    walk(connectionSpecification(), '#');
    expect(offending).toEqual([]);
  });

  it('given the zod schema when rendered then api_key is a required airbyte_secret and the draft is 07', () => {
    const spec = connectionSpecification() as {
      $schema: string;
      required: string[];
      properties: Record<string, Record<string, unknown>>;
    };
    expect(spec.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(spec.required).toEqual(['api_key']);
    expect(spec.properties.api_key).toMatchObject({ type: 'string', airbyte_secret: true });
    expect(Object.keys(spec.properties)).toEqual([
      'api_key',
      'start_date',
      'end_date',
      'lookback_days',
      'usage_granularity',
      'base_url',
      'max_retry_seconds',
      'endpoint_ids',
      'max_concurrent_requests',
    ]);
    // No other field is marked secret, or the UI would hide it.
    expect(
      Object.entries(spec.properties)
        .filter(([, p]) => p.airbyte_secret === true)
        .map(([name]) => name),
    ).toEqual(['api_key']);
  });
});

describe('given field problems mixed with cross-field problems', () => {
  it('when parsed then both kinds are reported in one error', () => {
    // Regression: start-after-end was only checked once every field was valid, so users fixed errors one at a time.
    let message = '';
    try {
      parseConfig(
        { api_key: 'k:0123456789abcdef', lookback_days: -2, start_date: '2026-05-01', end_date: '2026-04-01' },
        Date.UTC(2026, 10, 25),
      );
    } catch (error) {
      message = error instanceof Error ? error.message : '';
    }
    expect(message).toContain('lookback_days');
    expect(message).toContain('end_date (2026-04-01) must be after start_date (2026-05-01)');
  });
});
