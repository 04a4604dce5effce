import { describe, expect, it } from 'vitest';

import { readInOrder } from './in-order.js';

/** A window whose pages are handed out when the test releases them, recording what was fetched when. */
function controlledSource(pagesPerWindow: number) {
  const fetched: string[] = [];
  const gates = new Map<string, () => void>();
  const released = new Set<string>();
  const release = (name: string): void => {
    released.add(name);
    gates.get(name)?.();
  };
  async function* read(window: string): AsyncGenerator<string> {
    for (let page = 1; page <= pagesPerWindow; page++) {
      const name = `${window}.${page}`;
      if (!released.has(name)) await new Promise<void>((resolve) => gates.set(name, resolve));
      fetched.push(name);
      yield name;
    }
  }
  return { fetched, release, read };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('readInOrder', () => {
  it('given windows that answer in reverse order when read four at a time then the pages still come out window by window, in order', async () => {
    const source = controlledSource(2);
    const windows = ['w1', 'w2', 'w3', 'w4'];
    // Later windows answer first.
    for (const w of [...windows].reverse()) for (const p of [1, 2]) source.release(`${w}.${p}`);
    const out: string[] = [];
    for await (const [window, pages] of readInOrder(windows, 4, source.read)) {
      for await (const page of pages) out.push(`${window}:${page}`);
    }
    expect(out).toEqual(['w1:w1.1', 'w1:w1.2', 'w2:w2.1', 'w2:w2.2', 'w3:w3.1', 'w3:w3.2', 'w4:w4.1', 'w4:w4.2']);
  });

  it('given concurrency 1 when the caller has not asked for a page then nothing is fetched ahead', async () => {
    const source = controlledSource(3);
    for (const w of ['w1', 'w2']) for (const p of [1, 2, 3]) source.release(`${w}.${p}`);
    const iterator = readInOrder(['w1', 'w2'], 1, source.read)[Symbol.asyncIterator]();
    const first = await iterator.next();
    await tick();
    expect(source.fetched).toEqual([]);
    const pages = first.done ? undefined : first.value[1][Symbol.asyncIterator]();
    await pages?.next();
    await tick();
    expect(source.fetched).toEqual(['w1.1']);
  });

  it('given a slow head window when later windows are ready then each later window holds at most one page until it reaches the head', async () => {
    const source = controlledSource(5);
    for (const w of ['w2', 'w3', 'w4', 'w5']) for (let p = 1; p <= 5; p++) source.release(`${w}.${p}`);
    const iterator = readInOrder(['w1', 'w2', 'w3', 'w4', 'w5'], 3, source.read)[Symbol.asyncIterator]();
    await iterator.next();
    for (let i = 0; i < 20; i++) await tick();
    // Only windows 2 and 3 are started besides the head (concurrency 3); each fetched the one page it has room
    // for, then stopped. Window 4 and 5 are not touched.
    expect(source.fetched.filter((p) => p.startsWith('w2'))).toEqual(['w2.1']);
    expect(source.fetched.filter((p) => p.startsWith('w3'))).toEqual(['w3.1']);
    expect(source.fetched.some((p) => p.startsWith('w4') || p.startsWith('w5'))).toBe(false);
    await iterator.return(undefined);
  });

  it('given a later window that fails when the earlier ones are read then their pages all come first and the failure surfaces at the failed window', async () => {
    const boom = new Error('fal said no');
    async function* read(window: string): AsyncGenerator<string> {
      yield `${window}.1`;
      if (window === 'w3') throw boom;
      yield `${window}.2`;
    }
    const out: string[] = [];
    let failedAt: string | undefined;
    try {
      for await (const [window, pages] of readInOrder(['w1', 'w2', 'w3', 'w4'], 4, read)) {
        failedAt = window;
        for await (const page of pages) out.push(page);
      }
      failedAt = undefined;
    } catch (error) {
      expect(error).toBe(boom);
    }
    expect(failedAt).toBe('w3');
    expect(out).toEqual(['w1.1', 'w1.2', 'w2.1', 'w2.2', 'w3.1']);
  });

  it('given the caller stops early when windows are read ahead then the windows read ahead stop at their next page', async () => {
    const source = controlledSource(4);
    for (const w of ['w1', 'w2', 'w3']) for (let p = 1; p <= 4; p++) source.release(`${w}.${p}`);
    for await (const [, pages] of readInOrder(['w1', 'w2', 'w3'], 3, source.read)) {
      for await (const page of pages) {
        expect(page).toBe('w1.1');
        break;
      }
      break;
    }
    const fetchedAtStop = source.fetched.length;
    for (let i = 0; i < 10; i++) await tick();
    expect(source.fetched.length).toBe(fetchedAtStop);
    expect(source.fetched.filter((p) => p.endsWith('.4'))).toEqual([]);
  });
});
