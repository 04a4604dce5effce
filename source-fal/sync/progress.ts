/**
 * What `sync` says while it runs (stderr) and when it ends (stdout). On a terminal one status line is redrawn in
 * place: stream, the window being read, rows, rate. Elsewhere (cron, CI) only log lines and one line per finished
 * stream go to stderr. The summary table is plain text on stdout; nothing `sync` prints is protocol JSON.
 */
import type { Logger, LogLevel } from '../log.js';
import { redact } from '../redact.js';
import type { TablePlan } from './columns.js';
import type { CommitResult } from './destination.js';

/** What one stream's load came to: its commits' totals (the counts are summed over windows) and how it ended. */
export interface StreamSummary extends CommitResult {
  stream: string;
  kind: TablePlan['kind'];
  outcome: 'complete' | 'failed' | 'interrupted' | 'not run';
  /** Windows committed (one for a snapshot stream). */
  windows: number;
  elapsedMs: number;
  error: string | undefined;
}

export interface Progress extends Logger {
  start(stream: string): void;
  rows(stream: string, count: number, firstCursor: unknown, lastCursor: unknown): void;
  committed(stream: string, state: Record<string, unknown>, rows: number): void;
  done(summary: StreamSummary): void;
  failed(stream: string): void;
  /** Clears the status line; call before printing anything else. */
  stop(): void;
}

interface Writable {
  write(text: string): unknown;
}

const REDRAW_MS = 100;

export function createProgress(stderr: Writable, options: { tty: boolean; debug: boolean }): Progress {
  let stream: string | undefined;
  let rows = 0;
  let startedAt = 0;
  let windowFrom: string | undefined;
  let windowTo: string | undefined;
  let committedTo: string | undefined;
  let lastDraw = 0;
  let drawn = false;

  const clear = (): void => {
    if (drawn) stderr.write('\r\x1b[2K');
    drawn = false;
  };
  const draw = (force = false): void => {
    if (!options.tty || stream === undefined) return;
    const now = Date.now();
    if (!force && now - lastDraw < REDRAW_MS) return;
    lastDraw = now;
    const seconds = Math.max((now - startedAt) / 1000, 0.001);
    const window =
      windowFrom !== undefined
        ? `window ${shortInstant(windowFrom)} … ${shortInstant(windowTo ?? windowFrom)}`
        : committedTo !== undefined
          ? `up to ${shortInstant(committedTo)}`
          : 'starting';
    stderr.write(
      `\r\x1b[2K${stream}  ${window}  ${formatCount(rows)} rows  ${formatCount(Math.round(rows / seconds))} rows/s`,
    );
    drawn = true;
  };

  return {
    log(level: LogLevel, message: string) {
      if (level === 'DEBUG' && !options.debug) return;
      clear();
      stderr.write(`source-fal: ${level === 'INFO' ? '' : `${level} `}${redact(message)}\n`);
      draw(true);
    },
    start(name) {
      stream = name;
      rows = 0;
      startedAt = Date.now();
      windowFrom = windowTo = committedTo = undefined;
      draw(true);
    },
    rows(_name, count, first, last) {
      rows += count;
      if (typeof first === 'string' && windowFrom === undefined) windowFrom = first;
      if (typeof last === 'string') windowTo = last;
      draw();
    },
    committed(_name, state) {
      const cursor = Object.values(state).find((v): v is string => typeof v === 'string');
      if (cursor !== undefined) committedTo = cursor;
      windowFrom = windowTo = undefined;
      draw();
    },
    done(summary) {
      clear();
      const seconds = summary.elapsedMs / 1000;
      const total = summary.inserted + summary.updated;
      stderr.write(
        `source-fal: ${summary.stream} done: ${rowsText(total)} (${formatCount(summary.inserted)} new, ${formatCount(summary.updated)} updated${summary.deleted > 0 ? `, ${formatCount(summary.deleted)} removed` : ''}) in ${seconds.toFixed(1)} s${seconds > 0 ? `, ${formatCount(Math.round(total / seconds))} rows/s` : ''}\n`,
      );
      stream = undefined;
    },
    failed() {
      clear();
      stream = undefined;
    },
    stop() {
      clear();
      stream = undefined;
    },
  };
}

function shortInstant(text: string): string {
  return text.replace(/T00:00:00(\.0+)?Z$/, '').replace(/:00(\.0+)?Z$/, 'Z');
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** nano-USD → `1,234.56` (two decimals, rounded half up; the table holds the exact amount). */
function formatUsd(nano: bigint): string {
  const negative = nano < 0n;
  const abs = negative ? -nano : nano;
  const cents = (abs + 5_000_000n) / 10_000_000n;
  const whole = cents / 100n;
  const fraction = (cents % 100n).toString().padStart(2, '0');
  return `${negative ? '-' : ''}${BigInt(whole).toLocaleString('en-US')}.${fraction}`;
}

function formatRange(from: number | undefined, to: number | undefined): string {
  if (from === undefined || to === undefined) return '–';
  const show = (ms: number): string => shortInstant(new Date(ms).toISOString().replace('.000Z', 'Z'));
  return from === to ? show(from) : `${show(from)} … ${show(to)}`;
}

/** The end-of-run table, one line per stream. */
export function formatSummary(destination: string, summaries: readonly StreamSummary[]): string {
  const header = ['stream', 'result', 'inserted', 'updated', 'removed', 'covered (UTC)', 'cost USD', 'seconds'];
  const body = summaries.map((s) => [
    s.stream,
    s.outcome,
    formatCount(s.inserted),
    formatCount(s.updated),
    s.kind === 'snapshot' ? formatCount(s.deleted) : '–',
    formatRange(s.minCursorMs, s.maxCursorMs),
    s.costNano === undefined || s.outcome === 'not run' ? '–' : formatUsd(s.costNano),
    (s.elapsedMs / 1000).toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const numeric = new Set([2, 3, 4, 6, 7]);
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const failed = summaries.filter((s) => s.outcome === 'failed');
  const lines = [
    `source-fal sync into ${destination}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ];
  if (summaries.some((s) => s.costNano !== undefined && s.outcome !== 'not run')) {
    lines.push(
      'cost USD: what fal charges for the rows read in this run, re-read (lookback) rows included; – for streams that are not charges.',
    );
  }
  for (const s of failed) lines.push(`${s.stream} failed: ${redact(s.error ?? 'see the log above')}`);
  return `${lines.join('\n')}\n`;
}

/** `1 row`, `2 rows`, `1,024 rows`. */
export function rowsText(count: number): string {
  return `${formatCount(count)} ${count === 1 ? 'row' : 'rows'}`;
}
