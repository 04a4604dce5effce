import { describe, expect, it } from 'vitest';

import { thrownConfigError } from '../integration_tests/helpers/thrown.js';
import { cursorFromState, NO_CURSOR_STATE, parseStateFile } from './state.js';

function streamState(name: string, state: Record<string, unknown> | null): unknown {
  return { type: 'STREAM', stream: { stream_descriptor: { name }, stream_state: state } };
}

describe('parseStateFile', () => {
  it('given an array of STREAM messages when parsed then each stream maps to its stream_state', () => {
    const states = parseStateFile([
      streamState('usage', { bucket: '2026-07-20T00:00:00Z' }),
      { ...(streamState('api_keys', NO_CURSOR_STATE) as object), sourceStats: { recordCount: 4 } },
    ]);
    expect([...states]).toEqual([
      ['usage', { bucket: '2026-07-20T00:00:00Z' }],
      ['api_keys', { __ab_no_cursor_state_message: true }],
    ]);
  });

  it('given a STREAM message with a null stream_state when parsed then that stream has no state', () => {
    expect([...parseStateFile([streamState('usage', null)])]).toEqual([]);
  });

  it('given a legacy per-stream object when parsed then each stream maps to its object', () => {
    const states = parseStateFile({ usage: { bucket: '2026-07-20T00:00:00Z' }, note: 'ignored, not an object' });
    expect([...states]).toEqual([['usage', { bucket: '2026-07-20T00:00:00Z' }]]);
  });

  it('given a LEGACY message when parsed then its data is read as a legacy object', () => {
    const states = parseStateFile([{ type: 'LEGACY', data: { usage: { bucket: '2026-07-20T00:00:00Z' } } }]);
    expect([...states]).toEqual([['usage', { bucket: '2026-07-20T00:00:00Z' }]]);
  });

  it.each([null, undefined, [], {}])('given %j when parsed then there is no state', (json) => {
    expect(parseStateFile(json).size).toBe(0);
  });

  it('given a GLOBAL message when parsed then a ConfigError says STREAM state is expected', () => {
    const error = thrownConfigError(() =>
      parseStateFile([{ type: 'GLOBAL', global: { shared_state: {}, stream_states: [] } }]),
    );
    expect(error.code).toBe('invalid_state');
    expect(error.failureType).toBe('config_error');
    expect(error.message).toMatch(/^GLOBAL state is not used by source-fal/);
  });

  it.each([
    'not state',
    42,
    true,
    [1, 2],
    [{ foo: 'bar' }],
    [{ type: 'STREAM' }],
    [{ type: 'STREAM', stream: { stream_descriptor: { name: '' }, stream_state: {} } }],
    [{ type: 'PER_STREAM_THING', stream: {} }],
  ])('given garbage %j when parsed then a ConfigError explains the expected format', (json) => {
    const error = thrownConfigError(() => parseStateFile(json));
    expect(error.code).toBe('invalid_state');
    expect(error.message).toMatch(/^The state file is not Airbyte state: expected a JSON array of/);
  });
});

describe('cursorFromState', () => {
  it('given a saved RFC 3339 cursor when read then its epoch ms', () => {
    expect(cursorFromState('usage', 'bucket', { bucket: '2026-07-20T00:00:00+00:00' })).toBe(Date.UTC(2026, 6, 20));
  });

  it.each([undefined, {}, { bucket: null }, { other: '2026-07-20T00:00:00Z' }])(
    'given %j when read then no cursor',
    (raw) => {
      expect(cursorFromState('usage', 'bucket', raw)).toBeUndefined();
    },
  );

  it('given the no-cursor marker when read then no cursor', () => {
    // Full-refresh streams emit it; a stream later switched to incremental must start over, not fail.
    expect(cursorFromState('usage', 'bucket', { __ab_no_cursor_state_message: true })).toBeUndefined();
  });

  it.each([['yesterday'], [1753488000000], ['2026-02-30T00:00:00Z'], [{ at: 'x' }]])(
    'given cursor %j when read then a ConfigError names the stream and the field',
    (value) => {
      const error = thrownConfigError(() => cursorFromState('usage', 'bucket', { bucket: value }));
      expect(error.code).toBe('invalid_state');
      expect(error.context.stream).toBe('usage');
      expect(error.message).toBe(
        `The state of stream usage in the state file has bucket = ${JSON.stringify(value)}, which is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z. Fix or remove that stream's entry in the state file.`,
      );
    },
  );
});

describe('given a single state message instead of an array', () => {
  it('given the last STATE line of a run when parsed then its stream state is used', () => {
    // Regression: a pasted single message was read as the legacy per-stream object and silently ignored.
    const line = {
      type: 'STATE',
      state: {
        type: 'STREAM',
        stream: { stream_descriptor: { name: 'usage' }, stream_state: { bucket: '2026-07-01T00:00:00Z' } },
      },
    };
    expect(parseStateFile(line).get('usage')).toEqual({ bucket: '2026-07-01T00:00:00Z' });
    expect(parseStateFile(line.state).get('usage')).toEqual({ bucket: '2026-07-01T00:00:00Z' });
  });
});
