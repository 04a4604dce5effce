/**
 * The only code that knows where `schemas/` lives: next to `source-fal/` in the source tree, and two levels up
 * from `dist/source-fal/` in a build or the Docker image.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

const here = dirname(fileURLToPath(import.meta.url));

let resolvedDir: string | undefined;

/** Resolved on first use, not at import time. */
function schemasDir(): string {
  if (resolvedDir !== undefined) return resolvedDir;
  const candidates = [join(here, '..', 'schemas'), join(here, '..', '..', 'schemas')];
  const found = candidates.find((dir) => existsSync(join(dir, 'usage.json')));
  if (!found)
    throw new Error(
      `source-fal cannot find its schemas/ folder (looked in ${candidates.join(', ')}); the installation is incomplete.`,
    );
  resolvedDir = found;
  return found;
}

/** One property of a stream's JSON Schema: the keywords our code reads, everything else kept as written. */
export interface PropertySchema {
  type?: string | string[] | undefined;
  format?: string | undefined;
  airbyte_type?: string | undefined;
  anyOf?: PropertySchema[] | undefined;
  oneOf?: PropertySchema[] | undefined;
  [keyword: string]: unknown;
}

export const PropertySchemaZ: z.ZodType<PropertySchema> = z.lazy(() =>
  z
    .object({
      type: z.union([z.string(), z.array(z.string())]).optional(),
      format: z.string().optional(),
      airbyte_type: z.string().optional(),
      anyOf: z.array(PropertySchemaZ).optional(),
      oneOf: z.array(PropertySchemaZ).optional(),
    })
    .catchall(z.unknown()),
);

const StreamSchemaZ = z.object({ properties: z.record(z.string(), PropertySchemaZ).default({}) }).catchall(z.unknown());

/** A stream's JSON Schema (schemas/<name>.json), with its properties typed. */
export type StreamSchema = z.infer<typeof StreamSchemaZ>;

const cache = new Map<string, StreamSchema>();

/** The JSON Schema of a stream's records, from schemas/<name>.json. */
export function loadStreamSchema(name: string): StreamSchema {
  const cached = cache.get(name);
  if (cached) return cached;
  const schema = StreamSchemaZ.parse(JSON.parse(readFileSync(join(schemasDir(), `${name}.json`), 'utf8')));
  cache.set(name, schema);
  return schema;
}

/** The installed package's root (the folder holding schemas/, dbt/ and package.json). */
export function packageRoot(): string {
  return join(schemasDir(), '..');
}

export function packageVersion(): string {
  const pkg = z
    .object({ version: z.string() })
    .parse(JSON.parse(readFileSync(join(schemasDir(), '..', 'package.json'), 'utf8')));
  return pkg.version;
}
