/**
 * The warehouse loader: a `ReadSink` for the core's `read()`, so `sync` runs exactly what `read` runs, in-process.
 * A stream's first page after a checkpoint opens a transaction; pages are staged in the database as they come;
 * the checkpoint merges the window and writes its state in the same transaction. A stream that fails rolls back
 * its open window, so only whole windows ever land.
 *
 * A window's commit (merge, state row, COMMIT) runs in the database while the next window is already being fetched:
 * its rows are held here, at most `MAX_HELD_ROWS`, and staged once the commit is done. One commit is in flight at a
 * time and the destination is never called concurrently. Measured on the 1M-event bench (2 cores): the commits
 * were ~40% of the sync's wall time when reading waited for them.
 */
import { InterruptedError, type SourceFalError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReadSink, StreamStatus } from '../source.js';
import type { StreamRecord } from '../streams/stream.js';
import { type Cell, recordCells, type TablePlan } from './columns.js';
import type { CommitResult, Destination } from './destination.js';
import type { Progress, StreamSummary } from './progress.js';

/**
 * Rows held in memory while the previous window commits (about 350 bytes each as cells, so ~17 MB); beyond this,
 * reading waits for the commit. Five pages of billing events at the API's 10,000-row maximum.
 */
const MAX_HELD_ROWS = 50_000;

export class WarehouseLoader implements ReadSink {
  private readonly summaries = new Map<string, StreamSummary>();
  private readonly declared = new Map<string, Set<string>>();
  private readonly started = new Map<string, number>();
  private readonly warnedMisfits = new Set<string>();
  /** The stream whose window transaction is open, if any (streams are read one after the other). */
  private open: string | undefined;
  /** The previous window's commit, still running in the database. */
  private committing: Promise<void> | undefined;
  /** Rows of the next window that arrived while `committing` ran, in arrival order. */
  private held: { plan: TablePlan; rows: Cell[][] }[] = [];
  private heldRows = 0;

  constructor(
    private readonly destination: Destination,
    private readonly plans: ReadonlyMap<string, TablePlan>,
    private readonly progress: Progress,
    private readonly log: Logger,
    private readonly maxHeldRows = MAX_HELD_ROWS,
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
    // A stream is complete once its last commit is; a failing commit fails the stream here (read() catches it).
    if (status === 'COMPLETE') await this.settle();
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
    const declared = this.declared.get(stream) ?? new Set<string>();
    const rows: Cell[][] = new Array<Cell[]>(records.length);
    records.forEach((record, i) => {
      const { cells, misfits } = recordCells(plan, declared, record);
      rows[i] = cells;
      if (misfits) this.warnMisfits(stream, misfits, record);
    });
    if (this.committing !== undefined && this.heldRows + rows.length > this.maxHeldRows) await this.settle();
    if (this.committing !== undefined) {
      this.held.push({ plan, rows });
      this.heldRows += rows.length;
    } else {
      await this.stage(plan, rows);
    }
    this.progress.rows(
      stream,
      records.length,
      plan.cursorColumn === undefined ? undefined : records[0]?.[plan.cursorColumn],
      plan.cursorColumn === undefined ? undefined : records.at(-1)?.[plan.cursorColumn],
    );
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

  /** Appends rows to the stream's open window, opening one first if needed. */
  private async stage(plan: TablePlan, rows: readonly Cell[][]): Promise<void> {
    if (this.open !== plan.stream) {
      await this.rollbackOpenWindow();
      await this.destination.begin(plan);
      this.open = plan.stream;
    }
    if (rows.length > 0) await this.destination.append(plan, rows);
  }

  /** Waits for the commit in flight (rethrowing its failure), then stages the rows held meanwhile. */
  private async settle(): Promise<void> {
    const committing = this.committing;
    if (committing === undefined) return;
    this.committing = undefined;
    await committing;
    const held = this.held;
    this.held = [];
    this.heldRows = 0;
    for (const { plan, rows } of held) await this.stage(plan, rows);
  }

  async checkpoint(stream: string, state: Record<string, unknown>): Promise<void> {
    const plan = this.plan(stream);
    await this.settle();
    // A window with no rows still moves the state, in a transaction of its own.
    await this.stage(plan, []);
    this.open = undefined;
    const committing = (async () => {
      try {
        this.committed(stream, state, await this.destination.commit(plan, state));
      } catch (error) {
        // The window's transaction is still open in the database: end it before anything else is staged.
        await this.destination.rollback().catch(() => undefined);
        throw error;
      }
    })();
    // Awaited by the next settle(); until then a failure must not count as unhandled.
    committing.catch(() => undefined);
    this.committing = committing;
  }

  private committed(stream: string, state: Record<string, unknown>, result: CommitResult): void {
    const summary = this.summary(stream);
    summary.windows++;
    summary.inserted += result.inserted;
    summary.updated += result.updated;
    summary.deleted += result.deleted;
    if (result.costNano !== undefined) summary.costNano = (summary.costNano ?? 0n) + result.costNano;
    if (result.minCursorMs !== undefined)
      summary.minCursorMs = Math.min(summary.minCursorMs ?? Infinity, result.minCursorMs);
    if (result.maxCursorMs !== undefined)
      summary.maxCursorMs = Math.max(summary.maxCursorMs ?? -Infinity, result.maxCursorMs);
    this.progress.committed(stream, state, result.inserted + result.updated);
  }

  async streamError(stream: string, error: SourceFalError): Promise<void> {
    try {
      await this.closeOpenWindow();
    } catch (rollbackError) {
      // The transaction is lost either way (a database drops it with the connection); say so and go on.
      this.log.log(
        'WARN',
        `Closing the open window of ${stream} failed: ${rollbackError instanceof Error ? rollbackError.message : String(rollbackError)}`,
      );
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

  /**
   * Ends a stream's loading early (a failed stream, an interrupted run): the commit in flight finishes (it is a
   * whole window; a failure is logged, the stream is failing anyway), the rows held for the next window are dropped
   * and its open transaction is rolled back.
   */
  async closeOpenWindow(): Promise<void> {
    const committing = this.committing;
    this.committing = undefined;
    this.held = [];
    this.heldRows = 0;
    if (committing !== undefined) {
      await committing.catch((commitError: unknown) => {
        this.log.log(
          'WARN',
          `Committing a window failed, so the saved state stays before it: ${commitError instanceof Error ? commitError.message : String(commitError)}`,
        );
      });
    }
    await this.rollbackOpenWindow();
  }

  private async rollbackOpenWindow(): Promise<void> {
    if (this.open === undefined) return;
    this.open = undefined;
    await this.destination.rollback();
  }

  results(): StreamSummary[] {
    return [...this.summaries.values()];
  }
}
