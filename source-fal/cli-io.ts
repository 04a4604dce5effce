/**
 * What both bins share: starting as the entry point (signals, exit code, heap tuning) and reading the JSON files they
 * are given (config, catalog, state), with errors that name the file and the fix.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

import { ConfigError } from './errors.js';
import { redact } from './redact.js';
import { parseInstant } from './time.js';

export interface BinIo {
  stdout: NodeJS.WritableStream & import('node:stream').Writable;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/**
 * Runs `run` with the process's streams when the module at `moduleUrl` is the script node was started with (not
 * when tests import it). SIGTERM/SIGINT abort the run's signal; the run flushes what is due and returns its exit code.
 */
export function runIfEntryPoint(
  moduleUrl: string,
  name: string,
  run: (argv: readonly string[], io: BinIo) => Promise<number>,
): void {
  if (!isEntryPoint(moduleUrl)) return;
  tuneHeap();
  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      process.stderr.write(`${name}: ${sig} received; stopping after flushing output and emitting what is due.\n`);
      controller.abort(sig);
    });
  }
  run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${redact(error instanceof Error ? error.message : String(error))}\n`);
      process.exitCode = 1;
    },
  );
}

function isEntryPoint(moduleUrl: string): boolean {
  const invoked = process.argv[1];
  if (!invoked) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/**
 * Lets V8's old generation grow to at most twice what survived the last full collection (V8 picks up to 4× when the
 * heap limit is large, as Node's default of ~4 GB is on a machine with 16 GB or more). Each page is ~5 MB of JSON
 * and ~15 MB of objects that outlive a young-generation pass, so that headroom was garbage: peak RSS of `read`
 * 180-220 → 135-150 MB for 1M billing events on Node 20, CPU unchanged (bench/run.ts). The flag is read at each
 * collection, so setting it at run time takes effect (https://nodejs.org/api/v8.html#v8setflagsfromstringflags).
 */
function tuneHeap(): void {
  setFlagsFromString('--heap-growing-percent=100');
}

export async function readJsonFile(path: string, flag: string, options: { emptyAs?: unknown } = {}): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new ConfigError(
      'unreadable_file',
      `Cannot read the ${flag} file ${JSON.stringify(path)} (${code}). Check the path.`,
    );
  }
  if (text.trim() === '' && 'emptyAs' in options) return options.emptyAs;
  try {
    return JSON.parse(text);
  } catch (error) {
    // The parser's message can quote the file's text, which for a config holds the API key: keep only the position.
    const where = error instanceof Error ? /position \d+/.exec(error.message)?.[0] : undefined;
    throw new ConfigError(
      'invalid_json',
      `The ${flag} file ${JSON.stringify(path)} is not valid JSON${where ? ` (error at ${where})` : ''}. Fix the file.`,
    );
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
  if (ms === undefined)
    throw new ConfigError(
      'invalid_clock',
      `SOURCE_FAL_NOW=${JSON.stringify(pinned)} is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z. Fix or unset it.`,
    );
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
    throw new ConfigError(
      'invalid_timeout',
      `SOURCE_FAL_REQUEST_TIMEOUT_SECONDS=${JSON.stringify(text)} is not a number of seconds between 0 and 3600 such as 60. Fix or unset it.`,
    );
  }
  return Math.round(seconds * 1000);
}
