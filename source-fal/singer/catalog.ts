/**
 * Discovery for Singer: our streams as a Singer catalog, with the stream and field metadata a runner reads
 * (https://github.com/singer-io/getting-started/blob/master/docs/DISCOVERY_MODE.md).
 */
import { loadStreamSchema } from '../schemas.js';
import type { Stream } from '../streams/stream.js';

interface SingerMetadata {
  breadcrumb: string[];
  metadata: Record<string, unknown>;
}

export interface SingerCatalogEntry {
  tap_stream_id: string;
  stream: string;
  schema: Record<string, unknown>;
  key_properties: string[];
  replication_method: 'INCREMENTAL' | 'FULL_TABLE';
  replication_key?: string;
  metadata: SingerMetadata[];
}

/** Fields that are always sent: the primary key and the cursor (Singer `inclusion: automatic`). */
export function automaticFields(stream: Stream): Set<string> {
  return new Set([...stream.primaryKey, ...(stream.kind === 'incremental' ? [stream.cursorField] : [])]);
}

export function singerCatalogEntry(stream: Stream): SingerCatalogEntry {
  const schema = loadStreamSchema(stream.name);
  const incremental = stream.kind === 'incremental';
  const automatic = automaticFields(stream);
  const properties = Object.keys(schema.properties);
  return {
    tap_stream_id: stream.name,
    stream: stream.name,
    schema,
    key_properties: [...stream.primaryKey],
    replication_method: incremental ? 'INCREMENTAL' : 'FULL_TABLE',
    ...(incremental ? { replication_key: stream.cursorField } : {}),
    metadata: [
      {
        breadcrumb: [],
        metadata: {
          inclusion: 'available',
          selected: true,
          'selected-by-default': true,
          'table-key-properties': [...stream.primaryKey],
          'valid-replication-keys': incremental ? [stream.cursorField] : [],
          // A stream without a cursor can only be copied whole; an incremental stream may also be read FULL_TABLE.
          ...(incremental
            ? { 'replication-method': 'INCREMENTAL', 'replication-key': stream.cursorField }
            : { 'forced-replication-method': 'FULL_TABLE', 'replication-method': 'FULL_TABLE' }),
        },
      },
      ...properties.map((name) => ({
        breadcrumb: ['properties', name],
        metadata: { inclusion: automatic.has(name) ? 'automatic' : 'available', 'selected-by-default': true },
      })),
    ],
  };
}
