import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { LineWriter } from './output.js';

/** A sink that accepts nothing until the test releases it; its buffer is full after `highWaterMark` bytes. */
function heldSink(highWaterMark: number) {
  const received: string[] = [];
  const held: Array<() => void> = [];
  const sink = new Writable({
    highWaterMark,
    decodeStrings: false,
    write(chunk: string, _encoding, callback) {
      held.push(() => {
        received.push(chunk);
        callback();
      });
    },
  });
  const releaseOne = (): boolean => {
    const next = held.shift();
    next?.();
    return next !== undefined;
  };
  return { sink, received, held, releaseOne };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('LineWriter', () => {
  it('given a full sink when a batch is flushed then the flush waits for drain before resolving', async () => {
    // Regression: ignoring write() === false buffered a whole sync in memory when the reader was slow.
    const { sink, received, releaseOne } = heldSink(8);
    const writer = new LineWriter(sink, 1);

    let settled = false;
    const pending = writer.write('{"type":"RECORD"}\n').then(() => {
      settled = true;
    });
    await tick();
    await tick();
    expect(settled).toBe(false);
    expect(sink.writableNeedDrain).toBe(true);

    expect(releaseOne()).toBe(true);
    await pending;
    expect(settled).toBe(true);
    expect(received).toEqual(['{"type":"RECORD"}\n']);
  });

  it('given a slow sink and many lines when written then every line arrives once, in order, and the sink never holds more than one batch', async () => {
    const { sink, received, held, releaseOne } = heldSink(16);
    const writer = new LineWriter(sink, 64);
    let maxBuffered = 0;
    let releasing = true;
    // The reader: releases one chunk per turn of the event loop, as a slow pipe would.
    const reader = (async () => {
      while (releasing || held.length > 0) {
        maxBuffered = Math.max(maxBuffered, sink.writableLength);
        releaseOne();
        await tick();
      }
    })();

    const lines = Array.from({ length: 500 }, (_, i) => `{"type":"RECORD","record":{"n":${i}}}\n`);
    for (const line of lines) await writer.write(line);
    await writer.end();
    releasing = false;
    await reader;

    expect(received.join('')).toBe(lines.join(''));
    expect(writer.bytesWritten).toBe(lines.join('').length);
    // One batch is at most flushBytes plus one line; without backpressure the sink would hold everything.
    expect(maxBuffered).toBeLessThanOrEqual(64 + lines[499]!.length);
  });

  it('given many waits for drain when written then no listeners pile up on the sink', async () => {
    // Regression: each wait left 'error' and 'close' listeners behind: a leak and a MaxListenersExceededWarning.
    const { sink, held, releaseOne } = heldSink(4);
    const writer = new LineWriter(sink, 1);
    const before = {
      error: sink.listenerCount('error'),
      close: sink.listenerCount('close'),
      drain: sink.listenerCount('drain'),
    };
    for (let i = 0; i < 50; i++) {
      const pending = writer.write(`line ${i}\n`);
      await tick();
      expect(held.length).toBe(1);
      releaseOne();
      await pending;
    }
    expect({
      error: sink.listenerCount('error'),
      close: sink.listenerCount('close'),
      drain: sink.listenerCount('drain'),
    }).toEqual(before);
  });

  it('given lines below the batch size when flushed then they go out as one write', async () => {
    const { sink, received, releaseOne } = heldSink(1024);
    const writer = new LineWriter(sink, 1024);

    await writer.write('a\n');
    await writer.write('b\n');
    expect(received).toEqual([]);
    await writer.flush();
    releaseOne();

    expect(received).toEqual(['a\nb\n']);
  });

  it('given a sink that errored when flushed then the error is reported, not swallowed', async () => {
    // Regression: EPIPE on stdout crashed the process with an unhandled 'error' event, or was silently lost.
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const writer = new LineWriter(sink, 1);

    await writer.write('x\n').catch(() => undefined);
    await tick();

    await expect(writer.write('y\n')).rejects.toThrow('write EPIPE');
  });
});
