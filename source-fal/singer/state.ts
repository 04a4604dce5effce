/** Singer state in: the `--state` file, `{"bookmarks": {"<stream>": {...}}}`, as the core's per-stream states. */
import { ConfigError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { RawStreamStates } from '../state.js';

export interface SingerState {
  bookmarks: Record<string, Record<string, unknown>>;
  states: RawStreamStates;
}

/** The `--state` file: the value of the last STATE message (Meltano's `{"singer_state": …}` wrapper is accepted too). */
export function parseSingerState(json: unknown): SingerState {
  const bookmarks: Record<string, Record<string, unknown>> = {};
  const states: RawStreamStates = new Map();
  let value = json;
  if (isJsonObject(value) && isJsonObject(value.singer_state)) value = value.singer_state;
  if (value === null || value === undefined || (isJsonObject(value) && Object.keys(value).length === 0))
    return { bookmarks, states };
  if (!isJsonObject(value) || !('bookmarks' in value) || !isJsonObject(value.bookmarks)) {
    throw new ConfigError(
      'invalid_state',
      'The state file is not Singer state: expected the value of the last STATE message, {"bookmarks":{"usage":{"bucket":"2026-01-01T00:00:00Z"}}}. Pass the state a previous run emitted, or omit --state to start from start_date.',
    );
  }
  for (const [name, bookmark] of Object.entries(value.bookmarks)) {
    if (!isJsonObject(bookmark))
      throw new ConfigError(
        'invalid_state',
        `The bookmark of stream ${name} is not an object. Fix or remove it in the state file.`,
        { stream: name },
      );
    bookmarks[name] = bookmark;
    states.set(name, bookmark);
  }
  return { bookmarks, states };
}
