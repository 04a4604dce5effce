/**
 * Runs the built CLI (dist/source-fal/main.js) as a real child process, the way Airbyte or a user runs it,
 * and hands back its parsed stdout messages, stderr and exit code. Every stdout line must be an AirbyteMessage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { assertAirbyteMessage } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root, whether this helper runs from the source tree or from dist/. */
export const REPO_ROOT = here.includes(`${sep}dist${sep}`) ? join(here, '..', '..', '..') : join(here, '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'source-fal', 'main.js');

export interface Message {
  type: string;
  [key: string]: unknown;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: Message[];
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Kill the child with this signal once `when(messages)` is true. */
  killWhen?: { signal: NodeJS.Signals; when: (messages: readonly Message[]) => boolean };
  /** Called once the child is spawned, e.g. to signal it at a moment the test picks. */
  onSpawn?: (child: ChildProcess) => void;
  timeoutMs?: number;
}

export function tempDir(prefix = 'source-fal-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    const messages: Message[] = [];
    let stdout = '';
    let stderr = '';
    let partial = '';
    let killed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      partial += chunk;
      let newline: number;
      while ((newline = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, newline);
        partial = partial.slice(newline + 1);
        if (line.trim() === '') continue;
        const message = JSON.parse(line) as Message;
        messages.push(message);
        if (!killed && options.killWhen?.when(messages)) {
          killed = true;
          child.kill(options.killWhen.signal);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // A line cut by SIGKILL is the only non-JSON output allowed; everything else must be protocol.
      if (partial.trim() !== '' && signal !== 'SIGKILL') {
        reject(new Error(`stdout ended with a partial line: ${partial.slice(0, 200)}`));
        return;
      }
      try {
        for (const message of messages) assertAirbyteMessage(message);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      resolve({ code, signal, messages, stdout, stderr });
    });
  });
}

// Small selectors over a run's messages.
export const records = (r: CliResult, stream?: string): Record<string, unknown>[] =>
  r.messages
    .filter((m) => m.type === 'RECORD')
    .map((m) => m.record as { stream: string; data: Record<string, unknown> })
    .filter((rec) => stream === undefined || rec.stream === stream)
    .map((rec) => rec.data);

export interface StateMessage {
  type: 'STREAM';
  stream: { stream_descriptor: { name: string }; stream_state: Record<string, unknown> };
  sourceStats: { recordCount: number };
}

export const states = (r: CliResult, stream?: string): StateMessage[] =>
  r.messages
    .filter((m) => m.type === 'STATE')
    .map((m) => m.state as StateMessage)
    .filter((s) => stream === undefined || s.stream.stream_descriptor.name === stream);

export const traces = (r: CliResult, type: string): Record<string, unknown>[] =>
  r.messages
    .filter((m) => m.type === 'TRACE' && (m.trace as { type: string }).type === type)
    .map((m) => m.trace as Record<string, unknown>);

export const statuses = (r: CliResult, stream: string): string[] =>
  traces(r, 'STREAM_STATUS')
    .map((t) => t.stream_status as { stream_descriptor: { name: string }; status: string })
    .filter((s) => s.stream_descriptor.name === stream)
    .map((s) => s.status);

/** The messages of a run's LOG lines of one level. */
export const logLines = (r: CliResult, level: string): string[] =>
  r.messages
    .filter((m) => m.type === 'LOG' && (m.log as { level: string }).level === level)
    .map((m) => (m.log as { message: string }).message);

/** The stream names of a discover run's CATALOG. */
export const discovered = (r: CliResult): string[] =>
  (r.messages.find((m) => m.type === 'CATALOG')?.catalog as { streams: { name: string }[] }).streams.map((s) => s.name);

/** The latest state per stream, as the array a next run takes with --state. */
export function finalStateFile(r: CliResult): StateMessage[] {
  const latest = new Map<string, StateMessage>();
  for (const state of states(r)) latest.set(state.stream.stream_descriptor.name, state);
  return [...latest.values()].map((s) => ({ type: 'STREAM', stream: s.stream, sourceStats: s.sourceStats }));
}
