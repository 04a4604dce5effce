/**
 * The core's events as Singer messages on stdout (https://github.com/singer-io/getting-started/blob/master/docs/SPEC.md):
 * SCHEMA when a stream starts, RECORD pages, STATE (the whole tap state) after each checkpoint; logs on stderr.
 */
import type { SourceFalError } from '../errors.js';
import type { Logger, LogLevel } from '../log.js';
import type { LineWriter } from '../output.js';
import { redact } from '../redact.js';
import { loadStreamSchema } from '../schemas.js';
import type { ReadSink, StreamStatus } from '../source.js';
import type { Stream, StreamRecord } from '../streams/stream.js';
import { TAP_NAME } from './about.js';
import type { SingerSelection } from './selection.js';

/** The schema a SCHEMA message carries: the stream's JSON Schema narrowed to the selected fields. */
export function selectedSchema(stream: Stream, fields: ReadonlySet<string> | undefined): Record<string, unknown> {
  const schema = loadStreamSchema(stream.name);
  if (!fields) return schema;
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([name]) => fields.has(name)));
  const required = Array.isArray(schema.required)
    ? schema.required.filter((name) => fields.has(String(name)))
    : undefined;
  return { ...schema, properties, ...(required ? { required } : {}) };
}

export class SingerOutput implements ReadSink {
  private readonly plans: Map<string, SingerSelection>;
  private readonly schemaSent = new Set<string>();
  private readonly bookmarks: Record<string, Record<string, unknown>>;

  constructor(
    private readonly writer: LineWriter,
    selections: readonly SingerSelection[],
    initialBookmarks: Record<string, Record<string, unknown>>,
    private readonly logger: Logger,
  ) {
    this.plans = new Map(selections.map((s) => [s.stream.name, s]));
    // Bookmarks of streams not read this run are carried over: a STATE is always the whole tap state.
    this.bookmarks = { ...initialBookmarks };
  }

  private async schema(name: string): Promise<void> {
    if (this.schemaSent.has(name)) return;
    const plan = this.plans.get(name);
    if (!plan) throw new Error(`no selection for stream ${name}`);
    const { stream, mode, fields } = plan;
    this.schemaSent.add(name);
    await this.send({
      type: 'SCHEMA',
      stream: name,
      schema: selectedSchema(stream, fields),
      key_properties: [...stream.primaryKey],
      ...(mode === 'incremental' && stream.kind === 'incremental' ? { bookmark_properties: [stream.cursorField] } : {}),
    });
  }

  private async send(message: Record<string, unknown>): Promise<void> {
    await this.writer.write(`${JSON.stringify(message)}\n`);
  }

  async status(stream: string, status: StreamStatus): Promise<void> {
    // SCHEMA goes out when a stream starts, so even an empty stream tells the target its table.
    if (status === 'STARTED') await this.schema(stream);
  }

  /** RECORD lines for a page, built as text like the Airbyte writer; time_extracted is RFC 3339 UTC. */
  async records(stream: string, records: readonly StreamRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.schema(stream);
    const fields = this.plans.get(stream)?.fields;
    const head = `{"type":"RECORD","stream":${JSON.stringify(stream)},"time_extracted":"${new Date().toISOString()}","record":`;
    let text = '';
    for (const record of records) text += `${head}${JSON.stringify(fields ? pick(record, fields) : record)}}\n`;
    await this.writer.write(text);
  }

  async checkpoint(stream: string, state: Record<string, unknown>, _recordCount: number): Promise<void> {
    // Airbyte's no-cursor marker of full-refresh-only streams means nothing to Singer: no bookmark for them.
    if (!('__ab_no_cursor_state_message' in state)) this.bookmarks[stream] = state;
    await this.send({ type: 'STATE', value: { bookmarks: { ...this.bookmarks } } });
    await this.writer.flush();
  }

  async streamError(stream: string, error: SourceFalError): Promise<void> {
    this.logger.log('ERROR', `Stream ${stream} failed (${error.failureType}): ${error.describe()}`);
  }
}

function pick(record: StreamRecord, fields: ReadonlySet<string>): StreamRecord {
  const out: StreamRecord = {};
  for (const key of Object.keys(record)) if (fields.has(key)) out[key] = record[key];
  return out;
}

/** Singer taps log plain text to stderr; DEBUG only with --debug. */
export function stderrLogger(stderr: NodeJS.WritableStream, debug = false): Logger {
  return {
    log(level: LogLevel, message: string): void {
      if (level === 'DEBUG' && !debug) return;
      stderr.write(`${new Date().toISOString()} ${TAP_NAME} ${level} ${redact(message)}\n`);
    },
  };
}
