/**
 * Buffered line output that honours backpressure (docs/design.md): lines collect in memory up to `flushBytes`,
 * go out in one write(), and when write() returns false the writer waits for 'drain' before taking more.
 * A slow reader therefore slows the connector down instead of growing its memory, and nothing is lost at exit
 * as long as `flush()` is awaited before the process ends.
 */
import type { Writable } from 'node:stream';

/** Small enough that a batch is an ordinary young-generation string, not a large object (see protocol.ts). */
const DEFAULT_FLUSH_BYTES = 64 * 1024;

export class LineWriter {
  private chunks: string[] = [];
  private size = 0;
  private broken: Error | undefined;
  bytesWritten = 0;

  constructor(
    private readonly out: Writable,
    private readonly flushBytes = DEFAULT_FLUSH_BYTES,
  ) {
    // EPIPE (reader went away) must not crash the process with an unhandled 'error'; the next write reports it.
    out.on('error', (error: Error) => {
      this.broken = error;
    });
  }

  /** Queue text that already ends in "\n" (one or many lines). */
  async write(text: string): Promise<void> {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= this.flushBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.broken) throw this.broken;
    if (this.chunks.length === 0) return;
    const data = this.chunks.length === 1 ? (this.chunks[0] ?? '') : this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    this.bytesWritten += data.length;
    if (!this.out.write(data)) await drained(this.out);
    if (this.broken) throw this.broken;
  }

  /** Flush, then wait until the OS has the bytes (stdout to a pipe is asynchronous on POSIX). */
  async end(): Promise<void> {
    await this.flush();
    if (this.out.writableNeedDrain) await drained(this.out);
    if (this.broken) throw this.broken;
  }
}

/**
 * Resolves on 'drain', 'error' or 'close', whichever comes first, and removes all three listeners: racing
 * `events.once` promises left the losers attached, one pair per wait, which leaked on a long, slow sync.
 * An error is reported by the caller through the constructor's 'error' listener.
 */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('error', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('error', done);
    out.on('close', done);
  });
}
