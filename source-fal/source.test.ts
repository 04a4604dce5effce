import { afterEach, describe, expect, it } from 'vitest';

import { parseConfig } from './config.js';
import { ConfigError, type SourceFalError, TransientApiError } from './errors.js';
import { FalClient } from './http/client.js';
import { silentLogger } from './log.js';
import { clearSecretsForTest } from './redact.js';
import { read, type ReadSink, type Selection, type StreamStatus } from './source.js';
import type { RawStreamStates } from './state.js';
import type { IncrementalStream, StreamContext, StreamRecord } from './streams/stream.js';
import { DAY_MS, type Window } from './time.js';

const NOW = Date.UTC(2026, 6, 27, 12);
const START = Date.UTC(2026, 6, 24);

/** A stream of one record per daily window; `failOn` makes the window starting at that instant throw. */
function stub(name: string, failOn?: number): IncrementalStream {
  return {
    kind: 'incremental',
    name,
    primaryKey: ['id'],
    cursorField: 'at',
    requires: 'admin',
    docsUrl: 'https://example.com',
    windows: (ctx, saved) => {
      const out: Window[] = [];
      for (let at = saved ?? ctx.config.startMs; at < ctx.config.endMs; at += DAY_MS)
        out.push({ start: at, end: Math.min(at + DAY_MS, ctx.config.endMs) });
      return out;
    },
    async *readWindow(_ctx, window): AsyncIterable<StreamRecord[]> {
      if (window.start === failOn) {
        throw new TransientApiError('fal did not answer GET /x successfully (HTTP 503)', {
          endpoint: 'GET /x',
          status: 503,
          requestId: 'req-9',
        });
      }
      yield [{ id: `${name}-${window.start}`, at: new Date(window.start).toISOString() }];
    },
    cursorAfter: (_ctx, window) => window.end,
  };
}

type Event = [string, string, unknown?];

function recordingSink(): { sink: ReadSink; events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    sink: {
      status: async (stream: string, status: StreamStatus) => void events.push([stream, status]),
      records: async (stream: string, records: readonly StreamRecord[]) =>
        void events.push([stream, 'records', records.length]),
      checkpoint: async (stream: string, state: Record<string, unknown>) =>
        void events.push([stream, 'checkpoint', state.at]),
      streamError: async (stream: string, error: SourceFalError) =>
        void events.push([stream, 'error', error.describe()]),
    },
  };
}

function context(): StreamContext {
  const config = parseConfig({ api_key: 'kid-7f3a:9c1d2e3f4a5b6c7d8e9f', start_date: '2026-07-24' }, NOW);
  return {
    config,
    client: new FalClient({ baseUrl: config.baseUrl, apiKey: config.apiKey }),
    log: silentLogger,
    signal: new AbortController().signal,
  };
}

const selections = (...streams: IncrementalStream[]): Selection[] =>
  streams.map((stream) => ({ stream, mode: 'incremental' }));

afterEach(() => clearSecretsForTest());

describe('read', () => {
  it('given two streams when the first fails in its second window then it ends INCOMPLETE with its error and checkpoint, and the second still completes', async () => {
    const { sink, events } = recordingSink();

    const failed = await read(context(), selections(stub('a', START + DAY_MS), stub('b')), new Map(), sink);

    expect(failed).toEqual(['a']);
    expect(events.filter(([stream]) => stream === 'a')).toEqual([
      ['a', 'STARTED'],
      ['a', 'RUNNING'],
      ['a', 'records', 1],
      ['a', 'checkpoint', '2026-07-25T00:00:00Z'],
      ['a', 'INCOMPLETE'],
      [
        'a',
        'error',
        'fal did not answer GET /x successfully (HTTP 503) [stream a; window 2026-07-25T00:00:00Z/2026-07-26T00:00:00Z; GET /x; HTTP 503; fal request id req-9]',
      ],
    ]);
    expect(events.filter(([stream]) => stream === 'b').map(([, what]) => what)).toEqual([
      'STARTED',
      'RUNNING',
      'records',
      'checkpoint',
      'records',
      'checkpoint',
      'records',
      'checkpoint',
      'records',
      'checkpoint',
      'COMPLETE',
    ]);
  });

  it('given a state whose cursor for the second stream is not a timestamp when read then a ConfigError before anything is emitted', async () => {
    // Regression: the first stream was read in full and only then the bad state failed the second one.
    const { sink, events } = recordingSink();
    const states: RawStreamStates = new Map([['b', { at: 'yesterday' }]]);

    const error = await read(context(), selections(stub('a'), stub('b')), states, sink).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('The state of stream b in the state file has at = "yesterday"');
    expect(events).toEqual([]);
  });
});
