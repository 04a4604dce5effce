#!/usr/bin/env node
/**
 * Standalone fal emulator.
 *
 *   node dist/source-fal/emulator/main.js [--port N] [--seed N] [--events-per-day N] [--history-days N] [--now ISO] [--latency-ms N] [--latency-per-mib-ms N]
 *
 * Prints one JSON line {"url":"http://127.0.0.1:PORT/v1"} on stdout, then serves until SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';

import { type EmulatorOptions, startEmulator } from './server.js';

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      seed: { type: 'string' },
      'events-per-day': { type: 'string' },
      'history-days': { type: 'string' },
      now: { type: 'string' },
      'latency-ms': { type: 'string' },
      'latency-per-mib-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stderr.write(
      'usage: main.js [--port N] [--seed N] [--events-per-day N] [--history-days N] [--now ISO] [--latency-ms N] [--latency-per-mib-ms N]\n',
    );
    return;
  }
  const opts: EmulatorOptions = {};
  const port = intArg('port', values.port);
  const seed = intArg('seed', values.seed);
  const eventsPerDay = intArg('events-per-day', values['events-per-day']);
  const historyDays = intArg('history-days', values['history-days']);
  if (port !== undefined) opts.port = port;
  if (seed !== undefined) opts.seed = seed;
  if (eventsPerDay !== undefined) opts.eventsPerDay = eventsPerDay;
  if (historyDays !== undefined) opts.historyDays = historyDays;
  if (values.now !== undefined) opts.now = values.now;
  const latencyMs = intArg('latency-ms', values['latency-ms']);
  const perMiBMs = intArg('latency-per-mib-ms', values['latency-per-mib-ms']);
  if (latencyMs !== undefined || perMiBMs !== undefined)
    opts.latency = { fixedMs: latencyMs ?? 0, perMiBMs: perMiBMs ?? 0 };
  const emu = await startEmulator(opts);
  const stop = (): void => {
    void emu.close().then(() => process.exit(0));
  };
  // The benchmark asks how many requests a run made: SIGUSR2 prints {"requests": N} on stdout. Installed before the
  // URL is printed: a pipe write is synchronous on Linux, so the reader may signal before the next statement runs,
  // and SIGUSR2's default action ends the process (seen once in CI).
  process.on('SIGUSR2', () => {
    process.stdout.write(JSON.stringify({ requests: emu.requests.length }) + '\n');
  });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(JSON.stringify({ url: emu.url }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`fal emulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
