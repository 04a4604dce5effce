/**
 * Flag parsing shared by the front ends (source-fal, tap-fal, sync, reconcile): strict `node:util` parseArgs, one
 * shape of usage error (`<command>: <message>`, the usage, exit 2) and `--help` (the usage on stdout, exit 0).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { redact } from './redact.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>['values'];

export interface Command {
  /** What a usage error starts with, e.g. `source-fal sync`. */
  readonly name: string;
  readonly usage: string;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** Prints `message` and the usage on stderr; returns exit code 2. Messages may echo input, so they are redacted. */
export function usageError(command: Command, message: string): number {
  command.stderr.write(`${command.name}: ${redact(message)}\n${command.usage}\n`);
  return 2;
}

/**
 * The flags of `argv`, or the exit code when there is nothing left to do: 2 after a usage error (an unknown flag,
 * a missing value, a positional argument), 0 after printing the usage for `--help` when `options` has `help`.
 */
export function parseFlags<const O extends Options>(
  argv: readonly string[],
  options: O,
  command: Command,
): Values<O> | number {
  let values: Values<O>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    return usageError(command, error instanceof Error ? error.message : String(error));
  }
  if ('help' in values && values.help === true) {
    command.stdout.write(`${command.usage}\n`);
    return 0;
  }
  return values;
}
