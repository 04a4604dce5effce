#!/usr/bin/env node
/**
 * The Singer front end, `tap-fal` (also `source-fal --singer …`): the same core as the Airbyte CLI, speaking the
 * Singer spec (singer-io/getting-started SPEC.md, DISCOVERY_MODE.md, SYNC_MODE.md) for
 * Meltano and other Singer runners.
 *
 *   tap-fal --config c.json --discover                        the catalog (raw JSON) on stdout
 *   tap-fal --config c.json [--catalog cat.json] [--state s.json]   SCHEMA, RECORD and STATE lines on stdout
 *   tap-fal --about [--format json|markdown]                  Meltano-SDK-style description; --version
 *
 * Streams are chosen by the catalog's `selected` metadata and read INCREMENTAL or FULL_TABLE as its
 * `replication-method` says; fields deselected in the catalog are left out of SCHEMA and RECORD. State is
 * `{"bookmarks": {"<stream>": {"<cursor>": "<instant>"}}}`, emitted whole after every checkpoint; the `--state`
 * file is the last STATE value. Logs and errors go to stderr; the exit code is 0 on success, 1 on a failure,
 * 2 on bad usage, 130/143 when interrupted.
 */

import { parseFlags, usageError } from './cli-args.js';
import { readJsonFile, runIfEntryPoint } from './cli-io.js';
import { asSourceFalError, InterruptedError } from './errors.js';
import type { Logger } from './log.js';
import { LineWriter } from './output.js';
import { interruptedExitCode, openRun, readExitCode } from './run-context.js';
import { packageVersion } from './schemas.js';
import { about, aboutMarkdown, TAP_NAME } from './singer/about.js';
import { singerCatalogEntry } from './singer/catalog.js';
import { SingerOutput, stderrLogger } from './singer/output.js';
import { parseSingerCatalog, type SingerSelection } from './singer/selection.js';
import { parseSingerState } from './singer/state.js';
import { discover, read } from './source.js';
import { findStream } from './streams/index.js';
import type { Stream, StreamContext } from './streams/stream.js';

const USAGE = `Usage:
  ${TAP_NAME} --config <config.json> --discover
  ${TAP_NAME} --config <config.json> [--catalog <catalog.json>] [--state <state.json>]
  ${TAP_NAME} --about [--format json|markdown]
  ${TAP_NAME} --version | --help
(--properties <catalog.json> is accepted in place of --catalog; source-fal --singer <args> runs the same.)`;

export interface SingerIo {
  stdout: import('node:stream').Writable;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

function openContext(config: unknown, io: SingerIo, logger: Logger, purpose: 'discover' | 'sync'): StreamContext {
  return openRun(config, io, logger, purpose === 'sync' ? 'read' : 'discover');
}

export async function singerMain(argv: readonly string[], io: SingerIo): Promise<number> {
  const command = { name: TAP_NAME, usage: USAGE, stdout: io.stdout, stderr: io.stderr };
  const values = parseFlags(
    argv,
    {
      config: { type: 'string', short: 'c' },
      discover: { type: 'boolean', short: 'd' },
      catalog: { type: 'string' },
      properties: { type: 'string', short: 'p' },
      state: { type: 'string', short: 's' },
      about: { type: 'boolean' },
      format: { type: 'string' },
      version: { type: 'boolean' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    command,
  );
  if (typeof values === 'number') return values;
  if (values.version) {
    io.stdout.write(`${TAP_NAME} ${packageVersion()}\n`);
    return 0;
  }
  if (values.about) {
    if (values.format !== undefined && values.format !== 'json' && values.format !== 'markdown')
      return usageError(command, `--format must be json or markdown, not ${JSON.stringify(values.format)}`);
    io.stdout.write(values.format === 'json' ? `${JSON.stringify(about(), null, 2)}\n` : aboutMarkdown());
    return 0;
  }
  if (!values.config) return usageError(command, 'needs --config <file>');
  if (values.catalog && values.properties) return usageError(command, 'give --catalog or --properties, not both');
  if (values.discover && (values.catalog || values.properties || values.state))
    return usageError(command, '--discover takes only --config');

  const logger = stderrLogger(io.stderr, values.debug);
  const writer = new LineWriter(io.stdout);
  try {
    const ctx = openContext(
      await readJsonFile(values.config, '--config'),
      io,
      logger,
      values.discover ? 'discover' : 'sync',
    );
    try {
      if (values.discover) {
        const streams = (await discover(ctx))
          .map((entry) => findStream(entry.name))
          .filter((s): s is Stream => s !== undefined);
        await writer.write(`${JSON.stringify({ streams: streams.map(singerCatalogEntry) }, null, 2)}\n`);
        return 0;
      }
      const catalogPath = values.catalog ?? values.properties;
      let selections: SingerSelection[];
      if (catalogPath) {
        selections = parseSingerCatalog(await readJsonFile(catalogPath, values.catalog ? '--catalog' : '--properties'));
      } else {
        // No catalog: every stream this key can read, each in its default replication method.
        const streams = (await discover(ctx))
          .map((entry) => findStream(entry.name))
          .filter((s): s is Stream => s !== undefined);
        selections = streams.map((stream) => ({
          stream,
          mode: stream.kind === 'incremental' ? 'incremental' : 'full_refresh',
          fields: undefined,
        }));
        logger.log(
          'INFO',
          `No --catalog given: syncing every stream this key can read (${streams.map((s) => s.name).join(', ')}).`,
        );
      }
      const { bookmarks, states } = parseSingerState(
        values.state ? await readJsonFile(values.state, '--state', { emptyAs: null }) : null,
      );
      if (selections.length === 0) {
        logger.log(
          'WARN',
          'No stream is selected in the catalog; nothing to sync. Set "selected": true in a stream\'s metadata (breadcrumb []).',
        );
        return 0;
      }
      logger.log(
        'INFO',
        `Syncing ${selections.map((s) => `${s.stream.name} (${s.mode === 'incremental' ? 'INCREMENTAL' : 'FULL_TABLE'})`).join(', ')}.`,
      );
      return readExitCode(
        await read(ctx, selections, states, new SingerOutput(writer, selections, bookmarks, logger)),
        io.signal,
        logger,
      );
    } finally {
      await ctx.client.close();
    }
  } catch (caught) {
    const error = asSourceFalError(caught);
    logger.log('ERROR', `${error.describe()} (${error.failureType})`);
    return error instanceof InterruptedError ? interruptedExitCode(io.signal) : 1;
  } finally {
    await writer.end().catch(() => undefined);
  }
}

// Run only when executed as the bin, not when imported (by main.ts's --singer dispatch or by tests).
runIfEntryPoint(import.meta.url, TAP_NAME, singerMain);
