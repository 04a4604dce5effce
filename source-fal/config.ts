/**
 * The connector's configuration. `ConfigSchema` is the single source of truth: `spec` prints the JSON Schema
 * generated from it (schemas/spec.json is that output, guarded by a drift test), and `parseConfig` is the only
 * way raw JSON becomes a `Config`.
 */
import { z } from 'zod';

import { ConfigError } from './errors.js';
import { isJsonObject } from './json.js';
import { redact, registerSecret } from './redact.js';
import { DAY_MS, isDateOnly, parseInstant } from './time.js';

export const DEFAULT_BASE_URL = 'https://api.fal.ai/v1';
const DEFAULT_LOOKBACK_DAYS = 3;
const DEFAULT_START_DAYS_AGO = 30;
export const DEFAULT_MAX_RETRY_SECONDS = 600;
const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;
/** A bound that keeps one run polite to fal and its memory small (pages in flight grow with it). */
const MAX_CONCURRENT_REQUESTS = 16;
/** A sanity bound on the extra pricing ids (they are fetched 50 a call). */
const MAX_ENDPOINT_IDS = 1000;

const dateText = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))?$/, {
    message:
      'expected a date as YYYY-MM-DD or an RFC 3339 timestamp with a zone, e.g. 2026-01-01 or 2026-01-01T00:00:00Z',
  })
  .refine((text) => parseInstant(text) !== undefined, { message: 'not a real calendar date or time' });

const ConfigSchema = z
  .strictObject({
    api_key: z
      .string({
        message: 'api_key is required: paste a fal ADMIN-scope key (fal dashboard → API Keys → Add key, scope Admin)',
      })
      .trim()
      .min(1, { message: 'api_key is empty: paste a fal ADMIN-scope key' })
      // An HTTP header cannot carry it otherwise (undici would throw "invalid authorization header" mid-run).
      .refine((key) => /^[\x21-\x7e]*$/.test(key), {
        message:
          'api_key contains spaces, line breaks or non-ASCII characters: paste the key exactly as fal shows it, <key id>:<secret>',
      })
      .meta({
        title: 'fal Admin API key',
        description:
          'A fal API key with the ADMIN scope (fal dashboard → API Keys → Add key → scope Admin). Usage and billing APIs refuse API-scope keys.',
        airbyte_secret: true,
        order: 0,
      }),
    start_date: dateText.optional().meta({
      title: 'Start date',
      description: `Read data from this UTC date or instant on. YYYY-MM-DD or RFC 3339. Default: ${DEFAULT_START_DAYS_AGO} days before the run.`,
      examples: ['2026-01-01', '2026-01-01T00:00:00Z'],
      order: 1,
    }),
    end_date: dateText.optional().meta({
      title: 'End date',
      description:
        'Stop reading here. A plain date includes that whole UTC day; a timestamp is an exclusive instant. Default: read up to the time of the run.',
      examples: ['2026-03-31'],
      order: 2,
    }),
    lookback_days: z
      .int({ message: 'lookback_days must be a whole number of days, e.g. 3' })
      .min(0, { message: 'lookback_days must be 0 or more' })
      .max(365, { message: 'lookback_days must be at most 365' })
      .default(DEFAULT_LOOKBACK_DAYS)
      .meta({
        title: 'Lookback (days)',
        description:
          'Every incremental run re-reads this many days before the saved cursor, because fal records usage late and restates estimates until invoicing. Rows re-read update the same primary key.',
        order: 3,
      }),
    usage_granularity: z
      .enum(['hour', 'day'], { message: 'usage_granularity must be "hour" or "day"' })
      .default('day')
      .meta({
        title: 'Usage granularity',
        description: 'Bucket size of the usage streams (fal `timeframe`). Buckets are UTC.',
        order: 4,
      }),
    base_url: z
      .url({ message: 'base_url must be an absolute http(s) URL such as https://api.fal.ai/v1', protocol: /^https?$/ })
      .default(DEFAULT_BASE_URL)
      .meta({
        title: 'API base URL',
        description: 'fal Platform API root. Change only for a proxy or a local emulator.',
        order: 5,
      }),
    max_retry_seconds: z
      .int({ message: 'max_retry_seconds must be a whole number of seconds' })
      .min(0, { message: 'max_retry_seconds must be 0 or more' })
      .max(86_400, { message: 'max_retry_seconds must be at most 86400 (one day)' })
      .default(DEFAULT_MAX_RETRY_SECONDS)
      .meta({
        title: 'Retry budget (seconds)',
        description:
          'How long one request may keep retrying rate limits and outages (429, 408, 5xx, resets, timeouts) before the stream fails with a transient error.',
        order: 6,
      }),
    endpoint_ids: z
      .array(
        z
          .string({ message: 'endpoint_ids must be a list of fal endpoint ids such as "fal-ai/flux/dev"' })
          .trim()
          .min(1, { message: 'endpoint_ids must not contain an empty id' }),
        { message: 'endpoint_ids must be a list of fal endpoint ids such as ["fal-ai/flux/dev"]' },
      )
      .max(MAX_ENDPOINT_IDS, { message: `endpoint_ids may list at most ${MAX_ENDPOINT_IDS} ids` })
      .optional()
      .meta({
        title: 'Extra endpoint ids for pricing',
        description:
          "fal endpoint ids (e.g. fal-ai/flux/dev) whose unit prices the pricing stream reads in addition to every endpoint seen in the account's usage between start_date and end_date. fal can only price ids it is asked about.",
        examples: [['fal-ai/flux/dev', 'fal-ai/veo3']],
        order: 7,
      }),
    max_concurrent_requests: z
      .int({ message: 'max_concurrent_requests must be a whole number, e.g. 4' })
      .min(1, { message: 'max_concurrent_requests must be 1 or more (1 reads one request at a time)' })
      .max(MAX_CONCURRENT_REQUESTS, { message: `max_concurrent_requests must be at most ${MAX_CONCURRENT_REQUESTS}` })
      .default(DEFAULT_MAX_CONCURRENT_REQUESTS)
      .meta({
        title: 'Concurrent requests',
        description:
          'How many time windows of a stream are read from fal at once. Records are still delivered window by window, in order, with a checkpoint after each. The client halves it after a rate limit (429) and grows it back. 1 reads one request at a time.',
        order: 8,
      }),
  })
  .meta({ title: 'fal.ai Source Spec' });

export type RawConfig = z.input<typeof ConfigSchema>;

/** A validated config with every default filled and every instant resolved against the run's clock. */
export interface Config {
  apiKey: string;
  baseUrl: string;
  /** Inclusive start of history, epoch ms. */
  startMs: number;
  /** Exclusive end: the end_date if given, never later than the run's now. */
  endMs: number;
  /** The run's clock reading, epoch ms. */
  nowMs: number;
  lookbackDays: number;
  usageGranularity: 'hour' | 'day';
  maxRetrySeconds: number;
  /** Windows of one stream read at once, and the HTTP client's starting concurrency. */
  maxConcurrentRequests: number;
  /**
   * Fields the config has that this version does not know, with the closest known field when one is close. They
   * are ignored, never refused: Airbyte keeps a saved config's old fields across connector upgrades.
   */
  unknownFields: readonly { name: string; closest: string | undefined }[];
  /** Extra endpoint ids to price (config endpoint_ids), deduplicated; empty when not given. */
  endpointIds: readonly string[];
  raw: z.output<typeof ConfigSchema>;
}

/** Parses raw JSON into a Config, reporting every problem at once in a single ConfigError. */
export function parseConfig(raw: unknown, nowMs: number): Config {
  if (!isJsonObject(raw)) {
    throw new ConfigError('invalid_config', 'The config must be a JSON object such as {"api_key": "..."}.');
  }
  const apiKey = raw.api_key;
  if (typeof apiKey === 'string') registerSecret(apiKey);
  const known = Object.keys(ConfigSchema.shape);
  const unknownFields = Object.keys(raw)
    .filter((name) => !known.includes(name))
    .map((name) => ({ name: redact(name), closest: closestField(name, known) }));
  const result = ConfigSchema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([name]) => known.includes(name))),
  );
  const problems: string[] = result.success ? [] : result.error.issues.map(describeIssue);
  // Cross-field checks run on whatever dates parse, so they are reported together with field problems.
  const rawStart = readDate(raw, 'start_date');
  const rawEnd = readDate(raw, 'end_date');
  const startMs = rawStart?.ms ?? nowMs - DEFAULT_START_DAYS_AGO * DAY_MS;
  const endGiven = rawEnd === undefined ? undefined : endInstant(rawEnd.text);
  if (endGiven !== undefined && endGiven <= startMs) {
    problems.push(
      `end_date (${rawEnd?.text}) must be after start_date (${rawStart?.text ?? 'the default'}): move end_date later or start_date earlier`,
    );
  }
  if (rawStart !== undefined && rawStart.ms > nowMs) {
    problems.push(`start_date (${rawStart.text}) is in the future: set it to a past date`);
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigError(
      'invalid_config',
      `The config has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}: ${problems.join('; ')}.`,
    );
  }
  const cfg = result.data;
  return {
    apiKey: cfg.api_key,
    baseUrl: cfg.base_url.replace(/\/+$/, ''),
    startMs,
    endMs: Math.min(endGiven ?? nowMs, nowMs),
    nowMs,
    lookbackDays: cfg.lookback_days,
    usageGranularity: cfg.usage_granularity,
    maxRetrySeconds: cfg.max_retry_seconds,
    maxConcurrentRequests: cfg.max_concurrent_requests,
    endpointIds: [...new Set(cfg.endpoint_ids ?? [])],
    unknownFields,
    raw: cfg,
  };
}

/** One WARN line for the fields a config has that this version ignores, or undefined when there are none. */
export function unknownFieldsWarning(config: Pick<Config, 'unknownFields'>): string | undefined {
  if (config.unknownFields.length === 0) return undefined;
  const fields = config.unknownFields.map(
    ({ name, closest }) => `"${name}"${closest ? ` (did you mean ${closest}?)` : ''}`,
  );
  const many = fields.length > 1;
  return `Ignoring ${fields.join(', ')}: ${many ? 'not source-fal config fields' : 'not a source-fal config field'} (old or misspelt settings are ignored). Remove or rename ${many ? 'them' : 'it'}; known fields: ${Object.keys(ConfigSchema.shape).join(', ')}.`;
}

/** The known field an unknown one most likely meant: one that contains it or is contained in it, or a near spelling. */
function closestField(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const scored = known.map((field) => ({
    field,
    distance: field.includes(lower) || lower.includes(field) ? 0 : editDistance(lower, field),
  }));
  const best = scored.sort((a, b) => a.distance - b.distance)[0];
  return best !== undefined && best.distance <= Math.max(2, Math.floor(best.field.length / 3)) ? best.field : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** A date field of the raw config, when it is a string that parses; invalid ones are reported by the schema. */
function readDate(
  raw: Record<string, unknown>,
  field: 'start_date' | 'end_date',
): { text: string; ms: number } | undefined {
  const value = raw[field];
  if (typeof value !== 'string') return undefined;
  const ms = parseInstant(value);
  return ms === undefined ? undefined : { text: value, ms };
}

function endInstant(text: string): number | undefined {
  const ms = parseInstant(text);
  if (ms === undefined) return undefined;
  // A plain date names a whole UTC day, so the exclusive end is the next midnight.
  return isDateOnly(text) ? ms + DAY_MS : ms;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : undefined;
  if (issue.code === 'invalid_type' && issue.input === undefined && field) {
    return issue.message.startsWith('Invalid input') ? `${field} is required` : issue.message;
  }
  const message =
    issue.message.startsWith('Invalid input') || issue.message.startsWith('Too ')
      ? `${field ?? 'config'}: ${issue.message}`
      : issue.message;
  return field && !message.includes(field) ? `${field}: ${message}` : message;
}

/** The Airbyte `connectionSpecification`: the zod schema as draft-07 JSON Schema, minus what Airbyte forbids. */
export function connectionSpecification(): Record<string, unknown> {
  const schema: Record<string, unknown> = { ...z.toJSONSchema(ConfigSchema, { target: 'draft-07', io: 'input' }) };
  // Airbyte's acceptance tests reject `additionalProperties: false` in a spec
  // (https://docs.airbyte.com/connector-development/testing-connectors/connector-acceptance-tests-reference);
  // parseConfig ignores unknown fields and warns about them.
  delete schema.additionalProperties;
  delete schema.$schema;
  scrubIntegerBounds(schema);
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...schema };
}

/** zod writes JS's safe-integer bounds into integer fields that have no explicit bound; they are noise in a UI. */
function scrubIntegerBounds(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) scrubIntegerBounds(item);
    return;
  }
  if (!isJsonObject(node)) return;
  if (node.maximum === Number.MAX_SAFE_INTEGER) delete node.maximum;
  if (node.minimum === Number.MIN_SAFE_INTEGER) delete node.minimum;
  for (const value of Object.values(node)) scrubIntegerBounds(value);
}
