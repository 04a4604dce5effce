/**
 * Reading several windows at once while handing them on in order. When fal is slow, a serial reader waits on one
 * round trip after another; reading the next windows ahead hides that wait. Records still reach the sink window by
 * window, in the order of `items`, so a checkpoint after a window never covers one that is not complete and a kill
 * at any point resumes with nothing lost.
 *
 * Memory is bounded: a window fetches a page only when its queue has room for it, so a window that is not at the
 * head holds at most `buffered` pages (fetched or in flight) and then waits until it reaches the head: at most
 * `concurrency × buffered` pages are in memory or in flight, plus the one the caller is handling.
 */

/** A bounded single-producer, single-consumer queue of pages. */
class PageQueue<P> implements AsyncIterable<P> {
  private readonly pages: P[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private cancelled = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  /**
   * Waits until a page may be fetched: there is room for it. Resolves false when the consumer has gone away and
   * the producer must stop. Asking before fetching (not after) keeps the page from being held outside the queue.
   */
  async room(): Promise<boolean> {
    while (this.pages.length >= this.capacity && !this.cancelled) {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
    return !this.cancelled;
  }

  put(page: P): void {
    this.pages.push(page);
    this.wake('consumer');
  }

  end(): void {
    this.ended = true;
    this.wake('consumer');
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.wake('consumer');
  }

  cancel(): void {
    this.cancelled = true;
    this.wake('producer');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<P> {
    for (;;) {
      const page = this.pages.shift();
      if (page !== undefined) {
        this.wake('producer');
        yield page;
        continue;
      }
      // Pages sent before a failure are delivered first: they are complete, only the window is not.
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  private wake(who: 'consumer' | 'producer'): void {
    const wake = who === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (who === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    wake?.();
  }
}

async function pump<P>(pages: AsyncIterable<P>, queue: PageQueue<P>): Promise<void> {
  const iterator = pages[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (!(await queue.room())) {
        await iterator.return?.();
        return;
      }
      const next = await iterator.next();
      if (next.done === true) break;
      queue.put(next.value);
    }
    queue.end();
  } catch (error) {
    queue.fail(error);
  }
}

/**
 * Yields `[item, pages]` for every item in order; the caller must read each `pages` to its end (or stop the whole
 * loop) before asking for the next. With `concurrency` 1 nothing is read ahead: each item's pages are read only
 * as the caller consumes them, exactly as a plain loop would.
 */
export async function* readInOrder<W, P>(
  items: readonly W[],
  concurrency: number,
  read: (item: W) => AsyncIterable<P>,
  buffered = 1,
): AsyncGenerator<[W, AsyncIterable<P>]> {
  if (concurrency <= 1) {
    for (const item of items) yield [item, read(item)];
    return;
  }
  const started: { item: W; queue: PageQueue<P> }[] = [];
  const start = (item: W): void => {
    const queue = new PageQueue<P>(buffered);
    // pump never rejects: a failure is delivered through the queue when the window reaches the head.
    void pump(read(item), queue);
    started.push({ item, queue });
  };
  try {
    for (let head = 0; head < items.length; head++) {
      for (const next of items.slice(started.length, head + concurrency)) start(next);
      const current = started[head];
      if (current === undefined) return;
      yield [current.item, current.queue];
    }
  } finally {
    // The caller stopped (done, failed or interrupted): windows read ahead stop at their next page. A request
    // already in flight finishes on its own; its page is dropped and no checkpoint ever covers it.
    for (const { queue } of started) queue.cancel();
  }
}
