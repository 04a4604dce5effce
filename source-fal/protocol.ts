/**
 * The Airbyte front end: turns the core's events into AirbyteMessage JSON lines on stdout
 * (protocol: integration_tests/vendor/airbyte_protocol.yaml; conventions: https://docs.airbyte.com/understanding-airbyte/airbyte-protocol).
 * Only protocol JSON goes to stdout; LOG lines are messages too.
 */
import type { SourceFalError } from './errors.js';
import type { Logger, LogLevel } from './log.js';
import type { LineWriter } from './output.js';
import { redact } from './redact.js';
import type { ReadSink, StreamStatus } from './source.js';
import type { StreamRecord } from './streams/stream.js';

export type AirbyteMessage = Record<string, unknown> & { type: string };

/**
 * A page's lines go to the writer in pieces of about this size, not as one text: a whole page (~5 MB) is a large
 * object that V8 frees only in a full collection, and one per page piled up as garbage. With 64 KB pieces (and
 * 64 KB writes, output.ts) `read` of 1M billing events peaked at 175-190 MB instead of 210-250 MB, and spent less
 * CPU (bench/run.ts, Node 20).
 */
const CHUNK_CHARS = 64 * 1024;

export class AirbyteOutput implements ReadSink, Logger {
  constructor(private readonly writer: LineWriter) {}

  /** Every message but RECORD goes through here, scrubbed of the API key whatever field it hides in. */
  async send(message: AirbyteMessage): Promise<void> {
    await this.writer.write(`${redact(JSON.stringify(message))}\n`);
  }

  log(level: LogLevel, message: string): void {
    // Logs are rare; they join the buffer and go out with the next flush. A warning goes out at once: it usually
    // comes right before a retry wait (up to max_retry_seconds) that would otherwise hold it back. A broken stdout is
    // reported by the next awaited write, so a failed log write must not become an unhandled rejection.
    this.writer
      .write(`${redact(JSON.stringify({ type: 'LOG', log: { level, message: redact(message) } }))}\n`)
      .catch(() => undefined);
    if (level === 'WARN' || level === 'ERROR') this.writer.flush().catch(() => undefined);
  }

  /**
   * RECORD lines for a whole page, built as text: the envelope is fixed, so only `data` needs JSON.stringify
   * (serialisation dominates connector overhead). emitted_at is integer epoch ms.
   */
  async records(stream: string, records: readonly StreamRecord[]): Promise<void> {
    if (records.length === 0) return;
    const head = `{"type":"RECORD","record":{"stream":${JSON.stringify(stream)},"emitted_at":${Date.now()},"data":`;
    let text = '';
    for (const record of records) {
      text += `${head}${JSON.stringify(record)}}}\n`;
      if (text.length >= CHUNK_CHARS) {
        await this.writer.write(text);
        text = '';
      }
    }
    if (text !== '') await this.writer.write(text);
  }

  async checkpoint(stream: string, state: Record<string, unknown>, recordCount: number): Promise<void> {
    await this.send({
      type: 'STATE',
      state: {
        type: 'STREAM',
        stream: { stream_descriptor: { name: stream }, stream_state: state },
        sourceStats: { recordCount },
      },
    });
    // A checkpoint is only useful once it is out of the process.
    await this.writer.flush();
  }

  async status(stream: string, status: StreamStatus): Promise<void> {
    await this.send(trace('STREAM_STATUS', { stream_status: { stream_descriptor: { name: stream }, status } }));
  }

  async streamError(stream: string, error: SourceFalError): Promise<void> {
    await this.error(error, stream);
  }

  async error(error: SourceFalError, stream?: string): Promise<void> {
    await this.send(
      trace('ERROR', {
        error: {
          message: redact(error.describe()),
          internal_message: redact(`${error.code}: ${error.message}`),
          failure_type: error.failureType,
          ...(stream ? { stream_descriptor: { name: stream } } : {}),
        },
      }),
    );
  }
}

function trace(type: string, body: Record<string, unknown>): AirbyteMessage {
  return { type: 'TRACE', trace: { type, emitted_at: Date.now(), ...body } };
}
