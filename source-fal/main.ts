#!/usr/bin/env node
/**
 * The command line: `source-fal spec | check | discover | read` (Airbyte's CLI contract).
 * stdout carries only protocol JSON lines; exit codes: 0 success (also `check` answering FAILED), 1 a failure
 * reported as a TRACE ERROR, 2 a usage error, 130/143 interrupted by SIGINT/SIGTERM.
 */

import { configuredCatalog, parseCatalog } from './catalog.js';
import { parseFlags, usageError } from './cli-args.js';
import { type BinIo, readJsonFile, runIfEntryPoint } from './cli-io.js';
import { asSourceFalError, ConfigError, InterruptedError } from './errors.js';
import type { Logger } from './log.js';
import { LineWriter } from './output.js';
import { AirbyteOutput } from './protocol.js';
import { interruptedExitCode, openRun, readExitCode } from './run-context.js';
import { packageVersion } from './schemas.js';
import { singerMain } from './singer.js';
import { check, discover, read, spec } from './source.js';
import { parseStateFile } from './state.js';
import type { StreamContext } from './streams/stream.js';

const USAGE = `Usage:
  source-fal spec
  source-fal check    --config <config.json>
  source-fal discover --config <config.json> [--configured]   (--configured: a ConfiguredAirbyteCatalog of every
                                                             stream the key can read, for read --catalog)
  source-fal read     --config <config.json> --catalog <catalog.json> [--state <state.json>]
  source-fal sync     [--config <config.json>] [--destination <duckdb file|postgres://…>] [--streams a,b] [--full-refresh] [--demo]
  source-fal reconcile [--destination <duckdb file|postgres://…>] [--schema <name>]   (estimates vs invoices)
  source-fal --singer <tap-fal arguments>   (the Singer tap; see tap-fal --help)
  source-fal --help | --version`;

export async function main(argv: readonly string[], io: BinIo): Promise<number> {
  // The Singer face of the same core (source-fal/singer.ts), for `npx source-fal --singer --discover …`.
  if (argv.includes('--singer'))
    return singerMain(
      argv.filter((arg) => arg !== '--singer'),
      io,
    );
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    io.stdout.write(`source-fal ${packageVersion()}\n`);
    return 0;
  }
  // `sync` loads a warehouse instead of printing protocol messages; it parses its own flags.
  if (command === 'sync') return (await import('./sync/command.js')).runSync(rest, io);
  if (command === 'reconcile') return (await import('./sync/reconcile.js')).runReconcile(rest, io);
  const cli = { name: 'source-fal', usage: USAGE, stdout: io.stdout, stderr: io.stderr };
  const values = parseFlags(
    rest,
    {
      config: { type: 'string' },
      catalog: { type: 'string' },
      state: { type: 'string' },
      debug: { type: 'boolean' },
      configured: { type: 'boolean' },
    },
    cli,
  );
  if (typeof values === 'number') return values;
  if (values.configured && command !== 'discover') return usageError(cli, '--configured goes with discover');
  const writer = new LineWriter(io.stdout);
  const out = new AirbyteOutput(writer);
  // discover --configured prints a plain JSON file on stdout, so its logs go to stderr.
  const sink: Logger = values.configured
    ? { log: (level, message) => void io.stderr.write(`source-fal: ${level} ${message}\n`) }
    : out;
  const logger: Logger = values.debug
    ? sink
    : { log: (level, message) => (level === 'DEBUG' ? undefined : sink.log(level, message)) };
  try {
    switch (command) {
      case 'spec':
        await out.send({ type: 'SPEC', spec: spec() });
        return 0;
      case 'check':
      case 'discover':
      case 'read': {
        if (!values.config) return usageError(cli, `${command} needs --config <file>`);
        if (command === 'read' && !values.catalog) return usageError(cli, 'read needs --catalog <file>');
        return await runWithConfig(command, values, io, out, logger);
      }
      default:
        return usageError(cli, command ? `unknown command ${JSON.stringify(command)}` : 'no command given');
    }
  } catch (caught) {
    const error = asSourceFalError(caught);
    await out.error(error);
    return error instanceof InterruptedError ? interruptedExitCode(io.signal) : 1;
  } finally {
    await writer.end().catch(() => undefined);
  }
}

async function runWithConfig(
  command: 'check' | 'discover' | 'read',
  values: { config?: string; catalog?: string; state?: string; configured?: boolean },
  io: BinIo,
  out: AirbyteOutput,
  logger: Logger,
): Promise<number> {
  let ctx: StreamContext;
  try {
    ctx = openRun(
      await readJsonFile(values.config ?? '', '--config'),
      io,
      logger,
      command === 'read' ? 'read' : command,
    );
  } catch (caught) {
    const error = asSourceFalError(caught);
    if (command === 'check' && error instanceof ConfigError) {
      await out.send({ type: 'CONNECTION_STATUS', connectionStatus: { status: 'FAILED', message: error.describe() } });
      return 0;
    }
    throw error;
  }
  try {
    if (command === 'check') {
      try {
        const message = await check(ctx);
        await out.send({ type: 'CONNECTION_STATUS', connectionStatus: { status: 'SUCCEEDED', message } });
      } catch (caught) {
        const error = asSourceFalError(caught);
        if (error instanceof InterruptedError) throw error;
        // Airbyte's contract: check answers one CONNECTION_STATUS and exits 0, whatever kept it from connecting.
        const message =
          error instanceof ConfigError
            ? error.describe()
            : `Could not check the connection: fal did not answer at ${ctx.config.baseUrl} (${error.message.replace(/ This is usually temporary:.*$/, '')}). Check base_url, the network and any proxy between here and fal (HTTPS_PROXY), then run check again.`;
        await out.send({ type: 'CONNECTION_STATUS', connectionStatus: { status: 'FAILED', message } });
      }
      return 0;
    }
    if (command === 'discover') {
      const streams = await discover(ctx);
      if (values.configured) io.stdout.write(`${JSON.stringify(configuredCatalog(streams), null, 2)}\n`);
      else await out.send({ type: 'CATALOG', catalog: { streams } });
      return 0;
    }
    const selections = parseCatalog(await readJsonFile(values.catalog ?? '', '--catalog'));
    const states = parseStateFile(values.state ? await readJsonFile(values.state, '--state', { emptyAs: null }) : null);
    return readExitCode(await read(ctx, selections, states, out), io.signal, logger);
  } finally {
    await ctx.client.close();
  }
}

// Run only when executed as the bin, not when imported by tests.
runIfEntryPoint(import.meta.url, 'source-fal', main);
