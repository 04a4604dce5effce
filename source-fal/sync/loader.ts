/**
 * The warehouse loader: a `ReadSink` for the core's `read()`, so `sync` runs exactly what `read` runs, in-process.
 * A stream's first page after a checkpoint opens a transaction; pages are staged in the database as they come
 * (nothing is buffered in JS beyond one page); the checkpoint merges the window and writes its state in the same
 * transaction. A stream that fails rolls back its open window, so only whole windows ever land.
 */
import { InterruptedError, type SourceFalError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReadSink, StreamStatus } from '../source.js';
import type { StreamRecord } from '../streams/stream.js';
import { recordCells, type Cell, type TablePlan } from './columns.js';
import type { Destination } from './destination.js';
import type { Progress } from './progress.js';

export type StreamOutcome = 'complete' | 'failed' | 'interrupted' | 'not run';

export interface StreamSummary {
  stream: string;
  kind: TablePlan['kind'];
  outcome: StreamOutcome;
  /** Windows committed (one for a snapshot stream). */
  windows: number;
  inserted: number;
  updated: number;
  deleted: number;
  costNano: bigint | undefined;
  minCursorMs: number | undefined;
  maxCursorMs: number | undefined;
  elapsedMs: number;
  error: string | undefined;
}

export class WarehouseLoader implements ReadSink {
  private readonly summaries = new Map<string, StreamSummary>();
  private readonly declared = new Map<string, Set<string>>();
  private readonly started = new Map<string, number>();
  private readonly warnedMisfits = new Set<string>();
  /** The stream whose window transaction is open, if any (streams are read one after the other). */
  private open: string | undefined;

  constructor(
    private readonly destination: Destination,
    private readonly plans: ReadonlyMap<string, TablePlan>,
    private readonly progress: Progress,
    private readonly log: Logger,
  ) {
    for (const plan of plans.values()) {
      this.declared.set(plan.stream, new Set(plan.columns.map((c) => c.name)));
      this.summaries.set(plan.stream, {
        stream: plan.stream,
        kind: plan.kind,
        outcome: 'not run',
        windows: 0,
        inserted: 0,
        updated: 0,
        deleted: 0,
        costNano: plan.costColumn === undefined ? undefined : 0n,
        minCursorMs: undefined,
        maxCursorMs: undefined,
        elapsedMs: 0,
        error: undefined,
      });
    }
  }

  private plan(stream: string): TablePlan {
    const plan = this.plans.get(stream);
    if (!plan) throw new Error(`sync has no table plan for stream ${stream}`);
    return plan;
  }

  private summary(stream: string): StreamSummary {
    const summary = this.summaries.get(stream);
    if (!summary) throw new Error(`sync has no summary for stream ${stream}`);
    return summary;
  }

  async status(stream: string, status: StreamStatus): Promise<void> {
    const now = Date.now();
    if (status === 'STARTED') {
      this.started.set(stream, now);
      this.progress.start(stream);
      return;
    }
    if (status === 'COMPLETE' || status === 'INCOMPLETE') {
      const summary = this.summary(stream);
      summary.outcome = status === 'COMPLETE' ? 'complete' : 'failed';
      summary.elapsedMs = now - (this.started.get(stream) ?? now);
      if (status === 'COMPLETE') this.progress.done(summary);
    }
  }

  async records(stream: string, records: readonly StreamRecord[]): Promise<void> {
    if (records.length === 0) return;
    const plan = this.plan(stream);
    if (this.open !== stream) {
      await this.closeOpenWindow();
      await this.destination.begin(plan);
      this.open = stream;
    }
    const declared = this.declared.get(stream) ?? new Set<string>();
    const rows: Cell[][] = new Array<Cell[]>(records.length);
    for (let i = 0; i < records.length; i++) {
      const { cells, misfits } = recordCells(plan, declared, records[i] as StreamRecord);
      rows[i] = cells;
      if (misfits) this.warnMisfits(stream, misfits, records[i] as StreamRecord);
    }
    await this.destination.append(plan, rows);
    this.progress.rows(stream, records.length, plan.cursorColumn === undefined ? undefined : records[0]?.[plan.cursorColumn], plan.cursorColumn === undefined ? undefined : records.at(-1)?.[plan.cursorColumn]);
  }

  private warnMisfits(stream: string, fields: readonly string[], record: StreamRecord): void {
    for (const field of fields) {
      const key = `${stream}.${field}`;
      if (this.warnedMisfits.has(key)) continue;
      this.warnedMisfits.add(key);
      const shown = JSON.stringify(record[field]) ?? String(record[field]);
      this.log.log(
        'WARN',
        `Stream ${stream}: field ${field} has a value that does not fit its column type (${shown.slice(0, 80)}); such values are kept in the _extra column and the column is left NULL.`,
      );
    }
  }

  async checkpoint(stream: string, state: Record<string, unknown>): Promise<void> {
    const plan = this.plan(stream);
    if (this.open !== stream) {
      // A window with no rows still moves the state, in a transaction of its own.
      await this.closeOpenWindow();
      await this.destination.begin(plan);
      this.open = stream;
    }
    const result = await this.destination.commit(plan, state);
    this.open = undefined;
    const summary = this.summary(stream);
    summary.windows++;
    summary.inserted += result.inserted;
    summary.updated += result.updated;
    summary.deleted += result.deleted;
    if (result.costNano !== undefined) summary.costNano = (summary.costNano ?? 0n) + result.costNano;
    if (result.minCursorMs !== undefined) summary.minCursorMs = Math.min(summary.minCursorMs ?? Infinity, result.minCursorMs);
    if (result.maxCursorMs !== undefined) summary.maxCursorMs = Math.max(summary.maxCursorMs ?? -Infinity, result.maxCursorMs);
    this.progress.committed(stream, state, result.inserted + result.updated);
  }

  async streamError(stream: string, error: SourceFalError): Promise<void> {
    try {
      await this.closeOpenWindow();
    } catch (rollbackError) {
      // The transaction is lost either way (a database drops it with the connection); say so and go on.
      this.log.log('WARN', `Rolling back the open window of ${stream} failed: ${rollbackError instanceof Error ? rollbackError.message : String(rollbackError)}`);
    }
    const summary = this.summary(stream);
    const interrupted = error instanceof InterruptedError;
    summary.outcome = interrupted ? 'interrupted' : 'failed';
    summary.error = error.describe();
    this.progress.failed(stream);
    this.log.log(
      interrupted ? 'WARN' : 'ERROR',
      `Stream ${stream} ${interrupted ? 'was interrupted' : 'failed'}; the window it was reading was rolled back and its saved state is where the last committed window left it. ${error.describe()}`,
    );
  }

  /** Rolls back a window left open (a failed stream, an interrupted run). */
  async closeOpenWindow(): Promise<void> {
    if (this.open === undefined) return;
    this.open = undefined;
    await this.destination.rollback();
  }

  results(): StreamSummary[] {
    return [...this.summaries.values()];
  }
}
