/** Reading the JSON files the CLI is given (config, catalog, state), with errors that name the file and the fix. */
import { readFile } from 'node:fs/promises';

import { ConfigError } from './errors.js';
import { parseInstant } from './time.js';

export async function readJsonFile(path: string, flag: string, options: { emptyAs?: unknown } = {}): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new ConfigError('unreadable_file', `Cannot read the ${flag} file ${JSON.stringify(path)} (${code}). Check the path.`);
  }
  if (text.trim() === '' && 'emptyAs' in options) return options.emptyAs;
  try {
    return JSON.parse(text);
  } catch (error) {
    // The parser's message can quote the file's text, which for a config holds the API key: keep only the position.
    const where = error instanceof Error ? /position \d+/.exec(error.message)?.[0] : undefined;
    throw new ConfigError('invalid_json', `The ${flag} file ${JSON.stringify(path)} is not valid JSON${where ? ` (error at ${where})` : ''}. Fix the file.`);
  }
}

/**
 * The run's clock. `SOURCE_FAL_NOW` (RFC 3339) pins it, for tests and for replaying a past run exactly;
 * unset, it is the system clock.
 */
export function runClock(env: NodeJS.ProcessEnv): number {
  const pinned = env.SOURCE_FAL_NOW;
  if (pinned === undefined || pinned === '') return Date.now();
  const ms = parseInstant(pinned);
  if (ms === undefined) throw new ConfigError('invalid_clock', `SOURCE_FAL_NOW=${JSON.stringify(pinned)} is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z. Fix or unset it.`);
  return ms;
}

/**
 * The per-attempt HTTP timeout, from `SOURCE_FAL_REQUEST_TIMEOUT_SECONDS` (seconds, decimals allowed): how long one
 * attempt waits for fal's response headers and between body chunks before it is abandoned and retried.
 * Unset: the client's defaults (60 s for headers, 120 s for the body).
 */
export function requestTimeoutMs(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.SOURCE_FAL_REQUEST_TIMEOUT_SECONDS;
  if (text === undefined || text === '') return undefined;
  const seconds = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(seconds > 0 && seconds <= 3600)) {
    throw new ConfigError('invalid_timeout', `SOURCE_FAL_REQUEST_TIMEOUT_SECONDS=${JSON.stringify(text)} is not a number of seconds between 0 and 3600 such as 60. Fix or unset it.`);
  }
  return Math.round(seconds * 1000);
}
