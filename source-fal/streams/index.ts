/** The registry: the only list of streams. Order is the read order. */
import type { Stream } from './stream.js';
import { usage } from './usage.js';

export const ALL_STREAMS: readonly Stream[] = [usage];

export function findStream(name: string): Stream | undefined {
  return ALL_STREAMS.find((stream) => stream.name === name);
}
