/**
 * Stream state. Per stream it is one cursor, `{"<cursor field>": "<RFC 3339 UTC instant>"}`: every record with a
 * cursor value before it has been read (as of the run that saved it). The next run starts `lookback_days`
 * earlier and re-emits those rows; the primary key turns them into updates. The cursor only ever moves forward.
 *
 * Input is the Airbyte `--state` file: an array of AirbyteStateMessage (STREAM type); an empty file, `[]` or `{}`
 * mean no state. Legacy per-stream objects `{"usage": {"bucket": "..."}}` are accepted too.
 */
import { z } from 'zod';

import { ConfigError } from './errors.js';
import { parseInstant } from './time.js';

/** Full-refresh streams emit this marker as their final state, as Airbyte's Python CDK does; ignored on input. */
export const NO_CURSOR_STATE = { __ab_no_cursor_state_message: true } as const;

const StreamStateMessage = z.object({
  type: z.literal('STREAM'),
  stream: z.object({
    stream_descriptor: z.object({ name: z.string().min(1), namespace: z.string().nullish() }),
    stream_state: z.record(z.string(), z.unknown()).nullish(),
  }),
});

const StateMessage = z.union([
  StreamStateMessage,
  z.object({ type: z.literal('GLOBAL') }).loose(),
  z.object({ type: z.literal('LEGACY'), data: z.record(z.string(), z.unknown()) }).loose(),
]);

const StateFile = z.union([z.array(StateMessage), z.record(z.string(), z.unknown())]);

/** Stream name → the raw stream_state object. */
export type RawStreamStates = Map<string, Record<string, unknown>>;

export function parseStateFile(json: unknown): RawStreamStates {
  const states: RawStreamStates = new Map();
  if (json === null || json === undefined) return states;
  // One state message pasted on its own (e.g. the last STATE line of a run, or its inner state) is still state.
  if (typeof json === 'object' && !Array.isArray(json) && 'type' in json) {
    const inner = json.type === 'STATE' && 'state' in json ? json.state : json;
    return parseStateFile([inner]);
  }
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      'invalid_state',
      'The state file is not Airbyte state: expected a JSON array of {"type":"STREAM","stream":{"stream_descriptor":{"name":...},"stream_state":{...}}} messages. Pass the state a previous run emitted, or omit --state to start from start_date.',
    );
  }
  if (Array.isArray(parsed.data)) {
    for (const message of parsed.data) {
      if (message.type === 'STREAM') {
        if (message.stream.stream_state) states.set(message.stream.stream_descriptor.name, message.stream.stream_state);
      } else if (message.type === 'LEGACY') {
        addLegacy(states, message.data);
      } else {
        throw new ConfigError(
          'invalid_state',
          'GLOBAL state is not used by source-fal (it emits per-stream STREAM state). Pass STREAM state messages, or omit --state to start over.',
        );
      }
    }
  } else {
    addLegacy(states, parsed.data);
  }
  return states;
}

function addLegacy(states: RawStreamStates, data: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(data)) {
    const parsed = z.record(z.string(), z.unknown()).safeParse(value);
    if (parsed.success) states.set(name, parsed.data);
  }
}

/** Where saved state came from, for the message when it is unusable: what to name and how to fix it. */
export interface StateOrigin {
  /** e.g. "the state file". */
  where: string;
  fix: string;
}

export const STATE_FILE: StateOrigin = {
  where: 'the state file',
  fix: "Fix or remove that stream's entry in the state file.",
};

/** The saved cursor (epoch ms) of an incremental stream, validated; undefined when there is none. */
export function cursorFromState(
  stream: string,
  cursorField: string,
  raw: Record<string, unknown> | undefined,
  origin: StateOrigin = STATE_FILE,
): number | undefined {
  if (raw === undefined || '__ab_no_cursor_state_message' in raw) return undefined;
  const value = raw[cursorField];
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? parseInstant(value) : undefined;
  if (ms === undefined) {
    throw new ConfigError(
      'invalid_state',
      `The state of stream ${stream} in ${origin.where} has ${cursorField} = ${JSON.stringify(value)}, which is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z. ${origin.fix}`,
      { stream },
    );
  }
  return ms;
}
