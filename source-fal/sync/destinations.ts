/**
 * Every destination `sync` and `reconcile` can use, in one registry: the `--destination` forms each accepts, how it
 * is opened, whether it keeps the analytics views, and how a user queries it. A destination's module is imported
 * only when it is opened, so a PostgreSQL run never loads DuckDB's native binding. Adding a destination: a file
 * implementing `Destination` (destination.ts), its target in `TargetMap`, and one entry here (CONTRIBUTING.md).
 */
import type { AnalyticsDialect } from '../analytics/render.js';
import type { Logger } from '../log.js';
import { type Destination, DestinationConfigError } from './destination.js';

/** What locates each destination. */
interface TargetMap {
  duckdb: { path: string };
  postgres: { url: string };
  parquet: { path: string };
}
type Kind = keyof TargetMap;
type TargetOf<K extends Kind> = { dialect: K } & TargetMap[K];
export type Target = { [K in Kind]: TargetOf<K> }[Kind];

export interface OpenOptions {
  log: Logger;
  schema: string;
  env: NodeJS.ProcessEnv;
}

interface Registered<K extends Kind> {
  /** Its target when `value` is one of its forms (a malformed one throws, with `help`), else undefined. */
  parse(value: string, help: string): TargetOf<K> | undefined;
  open(target: TargetOf<K>, options: OpenOptions): Promise<Destination>;
  /** The dialect its analytics views are rendered in; undefined when it keeps no views. */
  readonly views: AnalyticsDialect | undefined;
  /** `sync --demo`'s closing words on querying it yourself. */
  howToQuery(target: TargetOf<K>): string;
}

/** A `<scheme>:<rest>` or `<scheme>://<rest>` form's rest, or undefined for another scheme; an empty rest throws. */
function schemeRest(value: string, scheme: string, names: string, help: string): string | undefined {
  const match = new RegExp(`^${scheme}:(//)?(.*)$`, 'i').exec(value);
  if (!match) return undefined;
  const rest = match[2] ?? '';
  if (rest === '')
    throw new DestinationConfigError(`--destination ${JSON.stringify(value)} names no ${names}. ${help}`);
  return rest;
}

const DESTINATIONS: { readonly [K in Kind]: Registered<K> } = {
  postgres: {
    parse(value, help) {
      if (!/^postgres(ql)?:\/\//i.test(value)) return undefined;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new DestinationConfigError(`--destination is not a valid PostgreSQL URL. ${help}`);
      }
      if (!url.hostname && !url.searchParams.get('host'))
        throw new DestinationConfigError(`--destination has no host. ${help}`);
      return { dialect: 'postgres', url: value };
    },
    async open(target, { log, schema }) {
      const { openPostgres } = await import('./postgres.js');
      return openPostgres(target.url, log, schema);
    },
    views: 'postgres',
    howToQuery: () => 'Query it yourself with psql or any PostgreSQL client, e.g.:',
  },
  parquet: {
    parse(value, help) {
      const path = schemeRest(value, 'parquet', 'directory', help);
      return path === undefined ? undefined : { dialect: 'parquet', path };
    },
    async open(target) {
      const { openParquet } = await import('./parquet.js');
      return openParquet(target.path);
    },
    views: undefined,
    howToQuery: (target) =>
      `Query the files with DuckDB (views: SELECT * FROM read_parquet('${target.path}/usage/day=*/*.parquet', hive_partitioning = true)), e.g.:`,
  },
  duckdb: {
    parse(value, help) {
      const path = schemeRest(value, 'duckdb', 'file', help);
      if (path !== undefined) return { dialect: 'duckdb', path };
      // A plain path is a DuckDB file; any other `scheme://` is not ours.
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
      if (scheme) throw new DestinationConfigError(`--destination scheme "${scheme[1]}:" is not supported. ${help}`);
      return { dialect: 'duckdb', path: value };
    },
    async open(target, { log, schema, env }) {
      const { openDuckDb, parseMemoryLimit } = await import('./duckdb.js');
      return openDuckDb(target.path, log, schema, parseMemoryLimit(env.SOURCE_FAL_DUCKDB_MEMORY_LIMIT));
    },
    views: 'duckdb',
    howToQuery: (target) => `Query it yourself with the DuckDB CLI (duckdb ${target.path}) or any DuckDB client, e.g.:`,
  },
};

/** Every registered destination, in the order `--destination` tries their forms: DuckDB last, as it takes any plain path. */
export const DESTINATION_KINDS: readonly Kind[] = ['postgres', 'parquet', 'duckdb'];

const HELP =
  'Use a DuckDB file path (e.g. ./fal.duckdb or duckdb:///var/lib/fal.duckdb) a PostgreSQL URL (postgres://user:password@host:5432/database) or a Parquet directory (parquet://./fal-parquet).';

/**
 * `--destination`: a DuckDB file path, `duckdb://<path>` / `duckdb:<path>`, `postgres://…` / `postgresql://…`, or
 * `parquet://<dir>` / `parquet:<dir>` (a directory of Hive-partitioned Parquet files, parquet.ts).
 * Anything else with a scheme is refused with the forms we accept.
 */
export function parseTarget(text: string): Target {
  const value = text.trim();
  if (value === '') throw new DestinationConfigError(`--destination is empty. ${HELP}`);
  for (const kind of DESTINATION_KINDS) {
    const target = DESTINATIONS[kind].parse(value, HELP);
    if (target !== undefined) return target;
  }
  throw new DestinationConfigError(`--destination ${JSON.stringify(value)} is not a destination. ${HELP}`);
}

function registered<K extends Kind>(target: TargetOf<K>): Registered<K> {
  return DESTINATIONS[target.dialect];
}

export function openDestination<K extends Kind>(target: TargetOf<K>, options: OpenOptions): Promise<Destination> {
  return registered(target).open(target, options);
}

/** The dialect of the destination's analytics views; undefined when it keeps none (Parquet files). */
export function viewsDialect(target: Target): AnalyticsDialect | undefined {
  return DESTINATIONS[target.dialect].views;
}

export function howToQuery<K extends Kind>(target: TargetOf<K>): string {
  return registered(target).howToQuery(target);
}
