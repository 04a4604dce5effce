/**
 * The configured catalog (`read --catalog`): which streams to read and in which sync mode
 * (ConfiguredAirbyteCatalog). Every problem is reported before anything is read.
 */
import { z } from 'zod';

import { ConfigError } from './errors.js';
import type { CatalogStream, Selection } from './source.js';
import { ALL_STREAMS, findStream } from './streams/index.js';

const ConfiguredCatalog = z.object({
  streams: z.array(
    z
      .object({
        stream: z.object({ name: z.string().min(1), namespace: z.string().nullish() }).loose(),
        sync_mode: z.string(),
        destination_sync_mode: z.string().optional(),
        cursor_field: z.array(z.string()).optional(),
      })
      .loose(),
  ),
});

export function parseCatalog(json: unknown): Selection[] {
  const parsed = ConfiguredCatalog.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      'invalid_catalog',
      'The catalog is not a ConfiguredAirbyteCatalog: expected {"streams":[{"stream":{"name":"usage",...},"sync_mode":"incremental","destination_sync_mode":"append_dedup"}]}. Build it from the output of `discover`.',
    );
  }
  const problems: string[] = [];
  const selections: Selection[] = [];
  const seen = new Set<string>();
  for (const entry of parsed.data.streams) {
    const name = entry.stream.name;
    const stream = findStream(name);
    if (!stream) {
      problems.push(
        `unknown stream ${JSON.stringify(name)} (known streams: ${ALL_STREAMS.map((s) => s.name).join(', ')})`,
      );
      continue;
    }
    if (seen.has(name)) {
      problems.push(`stream ${name} is listed twice`);
      continue;
    }
    seen.add(name);
    const mode = entry.sync_mode;
    const supported = stream.kind === 'incremental' ? ['full_refresh', 'incremental'] : ['full_refresh'];
    if (mode !== 'full_refresh' && mode !== 'incremental') {
      problems.push(`stream ${name} has sync_mode ${JSON.stringify(mode)}; use one of ${supported.join(', ')}`);
    } else if (!supported.includes(mode)) {
      problems.push(`stream ${name} does not support sync_mode ${mode}; use full_refresh`);
    } else {
      selections.push({ stream, mode });
    }
  }
  if (problems.length > 0)
    throw new ConfigError(
      'invalid_catalog',
      `The catalog has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}: ${problems.join('; ')}.`,
    );
  // Read in registry order, whatever order the catalog lists them in.
  return ALL_STREAMS.flatMap((stream) => selections.filter((s) => s.stream === stream));
}

/**
 * `discover --configured`: a ConfiguredAirbyteCatalog of the streams discover found, ready for `read --catalog`:
 * incremental streams incremental with append_dedup on their primary key, snapshots full refresh with overwrite.
 */
export function configuredCatalog(streams: readonly CatalogStream[]): { streams: Record<string, unknown>[] } {
  return {
    streams: streams.map((stream) =>
      stream.supported_sync_modes.includes('incremental')
        ? {
            stream,
            sync_mode: 'incremental',
            destination_sync_mode: 'append_dedup',
            cursor_field: stream.default_cursor_field ?? [],
            primary_key: stream.source_defined_primary_key,
          }
        : {
            stream,
            sync_mode: 'full_refresh',
            destination_sync_mode: 'overwrite',
            primary_key: stream.source_defined_primary_key,
          },
    ),
  };
}
