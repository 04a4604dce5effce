/**
 * Our own Singer validator (written from singer-io/getting-started SPEC.md, DISCOVERY_MODE.md, SYNC_MODE.md; no
 * Singer library code): checks a tap's catalog and its message stream the way a strict target would, and a helper
 * that runs the built tap (dist/source-fal/singer.js) as a child process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';

import { REPO_ROOT } from './cli.js';

const addFormats = ajvFormats.default;
const TAP = join(REPO_ROOT, 'dist', 'source-fal', 'singer.js');

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const REPLICATION_METHODS = ['FULL_TABLE', 'INCREMENTAL', 'LOG_BASED'];
const INCLUSIONS = ['available', 'automatic', 'unsupported'];

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

function newAjv(): Ajv {
  // Stream schemas carry extension keywords (airbyte_type); a Singer target ignores unknown keywords.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

function propertiesOf(schema: Record<string, unknown>): Record<string, unknown> {
  return isObject(schema.properties) ? schema.properties : {};
}

function isObjectSchema(schema: Record<string, unknown>): boolean {
  return schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'));
}

export class SingerViolation extends Error {}

function fail(where: string, message: string): never {
  throw new SingerViolation(`${where}: ${message}`);
}

interface StreamSchema {
  schema: Record<string, unknown>;
  key_properties: string[];
  bookmark_properties: string[] | undefined;
  validate: ValidateFunction;
}

export interface SingerSummary {
  /** The last SCHEMA per stream. */
  schemas: Map<string, StreamSchema>;
  /** Record payloads per stream, in order. */
  records: Map<string, Record<string, unknown>[]>;
  /** STATE values, in order. */
  states: unknown[];
  /** Message types in order, e.g. for ordering checks. */
  order: { type: string; stream?: string }[];
}

export interface ValidateOptions {
  /** Require the conventional `{"bookmarks": {"<stream>": {...}}}` STATE value (default true). */
  bookmarks?: boolean;
  /** Message types allowed besides SCHEMA, RECORD and STATE (default: none; Singer lets taps add more). */
  extraTypes?: string[];
}

/**
 * Validates a tap's stdout messages (parsed lines) per the Singer spec: every message has a type; SCHEMA has a
 * stream, an object schema that compiles and key_properties (and bookmark_properties) that are properties of it;
 * a RECORD comes after its stream's SCHEMA, matches that schema, has its key properties non-null and an RFC 3339
 * time_extracted if any; a STATE has a value. Throws SingerViolation naming the message index.
 */
export function validateSingerMessages(messages: readonly unknown[], options: ValidateOptions = {}): SingerSummary {
  const requireBookmarks = options.bookmarks ?? true;
  const extra = new Set((options.extraTypes ?? []).map((t) => t.toUpperCase()));
  const ajv = newAjv();
  const summary: SingerSummary = { schemas: new Map(), records: new Map(), states: [], order: [] };
  messages.forEach((message, index) => {
    const where = `message #${index}`;
    if (!isObject(message)) fail(where, 'is not a JSON object');
    if (typeof message.type !== 'string') fail(where, 'has no string "type"');
    const type = message.type.toUpperCase();
    switch (type) {
      case 'SCHEMA': {
        const { stream, schema, key_properties: keys, bookmark_properties: bookmarks } = message;
        if (typeof stream !== 'string' || stream === '') fail(where, 'SCHEMA needs a non-empty "stream"');
        if (!isObject(schema)) fail(where, `SCHEMA of ${stream} needs an object "schema"`);
        if (!isObjectSchema(schema)) fail(where, `SCHEMA of ${stream}: the schema's type must be object`);
        if (!isStringArray(keys))
          fail(where, `SCHEMA of ${stream} needs "key_properties", an array of strings (may be empty)`);
        const properties = propertiesOf(schema);
        for (const key of keys)
          if (!(key in properties))
            fail(where, `SCHEMA of ${stream}: key property ${key} is not in the schema's properties`);
        if (bookmarks !== undefined) {
          if (!isStringArray(bookmarks))
            fail(where, `SCHEMA of ${stream}: "bookmark_properties" must be an array of strings`);
          for (const key of bookmarks)
            if (!(key in properties))
              fail(where, `SCHEMA of ${stream}: bookmark property ${key} is not in the schema's properties`);
        }
        let validate: ValidateFunction;
        try {
          validate = ajv.compile(schema);
        } catch (error) {
          fail(
            where,
            `SCHEMA of ${stream} does not compile: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        summary.schemas.set(stream, { schema, key_properties: keys, bookmark_properties: bookmarks, validate });
        summary.order.push({ type, stream });
        break;
      }
      case 'RECORD': {
        const { stream, record, time_extracted: extracted } = message;
        if (typeof stream !== 'string') fail(where, 'RECORD needs a "stream"');
        const declared = summary.schemas.get(stream);
        if (!declared) fail(where, `RECORD of ${stream} before any SCHEMA of that stream`);
        if (!isObject(record)) fail(where, `RECORD of ${stream} needs an object "record"`);
        if (!declared.validate(record))
          fail(where, `RECORD of ${stream} does not match its SCHEMA: ${JSON.stringify(declared.validate.errors)}`);
        for (const key of declared.key_properties) {
          if (record[key] === undefined || record[key] === null)
            fail(where, `RECORD of ${stream} has no value for key property ${key}`);
        }
        if (
          extracted !== undefined &&
          (typeof extracted !== 'string' || !RFC3339.test(extracted) || Number.isNaN(Date.parse(extracted)))
        ) {
          fail(where, `RECORD of ${stream}: time_extracted ${JSON.stringify(extracted)} is not RFC 3339`);
        }
        const rows = summary.records.get(stream) ?? [];
        rows.push(record);
        summary.records.set(stream, rows);
        summary.order.push({ type, stream });
        break;
      }
      case 'STATE': {
        if (!('value' in message)) fail(where, 'STATE needs a "value"');
        if (requireBookmarks) {
          const value = message.value;
          if (!isObject(value) || !isObject(value.bookmarks)) fail(where, 'STATE value must be {"bookmarks": {...}}');
          for (const [stream, bookmark] of Object.entries(value.bookmarks))
            if (!isObject(bookmark)) fail(where, `STATE bookmark of ${stream} is not an object`);
        }
        summary.states.push(message.value);
        summary.order.push({ type });
        break;
      }
      default:
        if (!extra.has(type)) fail(where, `unexpected message type ${message.type}`);
        summary.order.push({ type });
    }
  });
  return summary;
}

/**
 * Validates a discovered Singer catalog: unique tap_stream_ids, object schemas that compile, exactly one
 * stream-level metadata entry (breadcrumb []) whose table-key-properties and valid-replication-keys name schema
 * properties, known replication methods and inclusions, field breadcrumbs that name schema properties, and key
 * properties marked `inclusion: automatic`.
 */
export function validateSingerCatalog(catalog: unknown): void {
  if (!isObject(catalog) || !Array.isArray(catalog.streams)) fail('catalog', 'needs a "streams" array');
  const ajv = newAjv();
  const ids = new Set<string>();
  catalog.streams.forEach((entry, index) => {
    const where = `catalog stream #${index}`;
    if (!isObject(entry)) fail(where, 'is not an object');
    const id = entry.tap_stream_id;
    if (typeof id !== 'string' || id === '') fail(where, 'needs a tap_stream_id');
    if (ids.has(id)) fail(where, `tap_stream_id ${id} repeats`);
    ids.add(id);
    if (typeof entry.stream !== 'string') fail(where, `${id} needs a "stream" name`);
    if (!isObject(entry.schema) || !isObjectSchema(entry.schema)) fail(where, `${id} needs an object schema`);
    try {
      ajv.compile(entry.schema);
    } catch (error) {
      fail(where, `${id}: schema does not compile: ${error instanceof Error ? error.message : String(error)}`);
    }
    const properties = propertiesOf(entry.schema);
    if (!Array.isArray(entry.metadata)) fail(where, `${id} needs a metadata array`);
    const top = entry.metadata.filter((m) => isObject(m) && Array.isArray(m.breadcrumb) && m.breadcrumb.length === 0);
    if (top.length !== 1)
      fail(where, `${id} needs exactly one stream-level metadata entry (breadcrumb []), has ${top.length}`);
    const md = (top[0] as { metadata?: unknown }).metadata;
    if (!isObject(md)) fail(where, `${id}: stream-level metadata must be an object`);
    const keys = md['table-key-properties'];
    if (!isStringArray(keys)) fail(where, `${id}: table-key-properties must be an array of strings`);
    for (const key of keys)
      if (!(key in properties)) fail(where, `${id}: table-key-property ${key} is not in the schema`);
    const replicationKeys = md['valid-replication-keys'];
    if (replicationKeys !== undefined) {
      if (!isStringArray(replicationKeys)) fail(where, `${id}: valid-replication-keys must be an array of strings`);
      for (const key of replicationKeys)
        if (!(key in properties)) fail(where, `${id}: replication key ${key} is not in the schema`);
    }
    for (const field of ['forced-replication-method', 'replication-method']) {
      if (md[field] !== undefined && !REPLICATION_METHODS.includes(String(md[field])))
        fail(where, `${id}: ${field} ${JSON.stringify(md[field])} is not one of ${REPLICATION_METHODS.join(', ')}`);
    }
    if (
      md['replication-key'] !== undefined &&
      !(isStringArray(replicationKeys) && replicationKeys.includes(String(md['replication-key'])))
    ) {
      fail(where, `${id}: replication-key is not among valid-replication-keys`);
    }
    if (md.selected !== undefined && typeof md.selected !== 'boolean') fail(where, `${id}: selected must be a boolean`);
    const fieldInclusion = new Map<string, unknown>();
    for (const item of entry.metadata) {
      if (!isObject(item) || !isStringArray(item.breadcrumb) || !isObject(item.metadata))
        fail(where, `${id}: every metadata entry needs a breadcrumb array and a metadata object`);
      if (item.breadcrumb.length === 0) continue;
      const [kind, name] = item.breadcrumb;
      if (item.breadcrumb.length !== 2 || kind !== 'properties' || name === undefined || !(name in properties))
        fail(where, `${id}: breadcrumb ${JSON.stringify(item.breadcrumb)} names no top-level property`);
      if (item.metadata.inclusion !== undefined && !INCLUSIONS.includes(String(item.metadata.inclusion)))
        fail(where, `${id}: inclusion ${JSON.stringify(item.metadata.inclusion)} of ${name}`);
      fieldInclusion.set(name, item.metadata.inclusion);
    }
    for (const key of keys) {
      if (fieldInclusion.has(key) && fieldInclusion.get(key) !== 'automatic')
        fail(where, `${id}: key property ${key} must be inclusion automatic`);
    }
  });
}

export interface TapResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (sync mode); empty when stdout is not line-delimited JSON. */
  messages: Record<string, unknown>[];
}

/** Runs the built tap (or `node main.js --singer …` with `viaSourceFal`) and collects its output. */
export function runTap(
  args: readonly string[],
  options: { env?: Record<string, string>; viaSourceFal?: boolean } = {},
): Promise<TapResult> {
  const entry = options.viaSourceFal ? [join(REPO_ROOT, 'dist', 'source-fal', 'main.js'), '--singer'] : [TAP];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let messages: Record<string, unknown>[];
      try {
        messages = stdout
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      } catch {
        messages = [];
      }
      resolve({ code, stdout, stderr, messages });
    });
  });
}
