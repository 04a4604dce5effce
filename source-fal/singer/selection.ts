/**
 * Which streams and fields a Singer catalog (`--catalog` / `--properties`) asks for, and how: the `selected`,
 * `replication-method` and `replication-key` metadata
 * (https://github.com/singer-io/getting-started/blob/master/docs/SYNC_MODE.md). Every problem is reported at once,
 * before anything is read.
 */
import { ConfigError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { loadStreamSchema } from '../schemas.js';
import type { Selection, SyncMode } from '../source.js';
import { ALL_STREAMS, findStream } from '../streams/index.js';
import type { Stream } from '../streams/stream.js';
import { TAP_NAME } from './about.js';
import { automaticFields } from './catalog.js';

export interface SingerSelection extends Selection {
  /** Fields to send; undefined means every field. */
  fields: ReadonlySet<string> | undefined;
}

function metadataAt(
  entry: Record<string, unknown>,
  breadcrumb: readonly string[],
): Record<string, unknown> | undefined {
  const list = Array.isArray(entry.metadata) ? entry.metadata : [];
  const found = list.find(
    (m) =>
      isJsonObject(m) &&
      Array.isArray(m.breadcrumb) &&
      m.breadcrumb.length === breadcrumb.length &&
      m.breadcrumb.every((b, i) => b === breadcrumb[i]),
  );
  return isJsonObject(found) && isJsonObject(found.metadata) ? found.metadata : undefined;
}

/** The selected streams of a Singer catalog (`--catalog` / `--properties`), in registry order. */
export function parseSingerCatalog(json: unknown): SingerSelection[] {
  if (!isJsonObject(json) || !Array.isArray(json.streams)) {
    throw new ConfigError(
      'invalid_catalog',
      `The catalog is not a Singer catalog: expected {"streams":[{"tap_stream_id":"usage","schema":{...},"metadata":[...]}]}. Generate it with \`${TAP_NAME} --config <config.json> --discover\`.`,
    );
  }
  const problems: string[] = [];
  const selections: SingerSelection[] = [];
  const seen = new Set<string>();
  for (const entry of json.streams) {
    if (!isJsonObject(entry)) {
      problems.push('a stream entry is not an object');
      continue;
    }
    const id =
      typeof entry.tap_stream_id === 'string'
        ? entry.tap_stream_id
        : typeof entry.stream === 'string'
          ? entry.stream
          : undefined;
    const top = metadataAt(entry, []) ?? {};
    const selected = (top.selected ?? entry.selected ?? top['selected-by-default'] ?? false) === true;
    if (id === undefined) {
      problems.push('a stream entry has no tap_stream_id');
      continue;
    }
    const stream = findStream(id);
    if (!stream) {
      // An unselected stream we do not know (e.g. from an older catalog) does no harm.
      if (selected)
        problems.push(
          `unknown stream ${JSON.stringify(id)} is selected (known streams: ${ALL_STREAMS.map((s) => s.name).join(', ')})`,
        );
      continue;
    }
    if (seen.has(id)) {
      problems.push(`stream ${id} is listed twice`);
      continue;
    }
    seen.add(id);
    if (!selected) continue;
    const method =
      top['replication-method'] ??
      entry.replication_method ??
      top['forced-replication-method'] ??
      (stream.kind === 'incremental' ? 'INCREMENTAL' : 'FULL_TABLE');
    let mode: SyncMode;
    if (method === 'FULL_TABLE') mode = 'full_refresh';
    else if (method === 'INCREMENTAL' && stream.kind === 'incremental') mode = 'incremental';
    else {
      problems.push(
        `stream ${id} has replication-method ${JSON.stringify(method)}; use ${stream.kind === 'incremental' ? 'INCREMENTAL or FULL_TABLE' : 'FULL_TABLE'}`,
      );
      continue;
    }
    const key = top['replication-key'] ?? entry.replication_key;
    if (
      mode === 'incremental' &&
      stream.kind === 'incremental' &&
      key !== undefined &&
      key !== null &&
      key !== stream.cursorField
    ) {
      problems.push(
        `stream ${id} has replication-key ${JSON.stringify(key)}; its only replication key is ${stream.cursorField}`,
      );
      continue;
    }
    selections.push({ stream, mode, fields: selectedFields(entry, stream) });
  }
  if (problems.length > 0)
    throw new ConfigError(
      'invalid_catalog',
      `The catalog has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}: ${problems.join('; ')}.`,
    );
  return ALL_STREAMS.flatMap((stream) => selections.filter((s) => s.stream === stream));
}

/** Fields the catalog deselects (`selected: false`) are left out, except the always-sent key and cursor. */
function selectedFields(entry: Record<string, unknown>, stream: Stream): ReadonlySet<string> | undefined {
  const automatic = automaticFields(stream);
  const properties = Object.keys(loadStreamSchema(stream.name).properties);
  const dropped = properties.filter((name) => {
    if (automatic.has(name)) return false;
    const md = metadataAt(entry, ['properties', name]);
    return md?.selected === false || md?.inclusion === 'unsupported';
  });
  return dropped.length === 0 ? undefined : new Set(properties.filter((name) => !dropped.includes(name)));
}
