/**
 * The connector's error family. Every error a user can meet is one of these, with a stable `code`,
 * the Airbyte `failure_type` it maps to, and a message that says what to do next.
 * (Airbyte protocol: AirbyteErrorTraceMessage.failure_type, https://docs.airbyte.com/understanding-airbyte/airbyte-protocol.)
 */
import { redact } from './redact.js';

export type FailureType = 'config_error' | 'transient_error' | 'system_error';

export interface ErrorContext {
  /** Stream the error belongs to, when it belongs to one. */
  stream?: string;
  /** HTTP method and path (never the full URL with a query that could carry secrets). */
  endpoint?: string;
  /** fal's request id from the error envelope, when fal sent one. */
  requestId?: string;
  /** HTTP status, when the error came from a response. */
  status?: number;
  /** The time window being read, as `start/end` in RFC 3339. */
  window?: string;
}

export abstract class SourceFalError extends Error {
  abstract readonly code: string;
  abstract readonly failureType: FailureType;
  readonly context: ErrorContext;

  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(redact(message), options);
    this.name = new.target.name;
    this.context = context;
  }

  /** The message with the context a support person needs (endpoint, window, fal request id). */
  describe(): string {
    const parts: string[] = [];
    if (this.context.stream) parts.push(`stream ${this.context.stream}`);
    if (this.context.window) parts.push(`window ${this.context.window}`);
    if (this.context.endpoint) parts.push(this.context.endpoint);
    if (this.context.status !== undefined) parts.push(`HTTP ${this.context.status}`);
    if (this.context.requestId) parts.push(`fal request id ${this.context.requestId}`);
    return parts.length > 0 ? `${this.message} [${parts.join('; ')}]` : this.message;
  }

  withContext(extra: ErrorContext): this {
    Object.assign(this.context, { ...extra, ...this.context });
    return this;
  }
}

/** Something the user must fix: the config, the key, the key's scope, an account feature, the catalog or the state. */
export class ConfigError extends SourceFalError {
  readonly failureType = 'config_error' as const;
  constructor(
    readonly code: string,
    message: string,
    context?: ErrorContext,
    options?: { cause?: unknown },
  ) {
    super(message, context, options);
  }
}

/** A failure that may pass on its own (rate limit, outage, reset); raised once retries are spent. */
export class TransientApiError extends SourceFalError {
  readonly code = 'transient_api_error';
  readonly failureType = 'transient_error' as const;
  /** Milliseconds the server asked us to wait, if it said. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, context?: ErrorContext, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, context, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** fal answered with an error that retrying will not fix and that is not the user's to fix (e.g. 400 on our request). */
export class ApiError extends SourceFalError {
  readonly code = 'api_error';
  readonly failureType = 'system_error' as const;
}

/** fal answered 2xx but the body is not the shape we rely on (envelope drift). Never yields zero rows silently. */
export class ResponseShapeError extends SourceFalError {
  readonly code = 'response_shape_error';
  readonly failureType = 'system_error' as const;
}

/** The run was stopped by SIGTERM/SIGINT before the stream finished. */
export class InterruptedError extends SourceFalError {
  readonly code = 'interrupted';
  readonly failureType = 'transient_error' as const;
}

/** Wraps anything that is not ours (a bug, an unexpected throw) so it still reaches the user redacted. */
export function asSourceFalError(error: unknown): SourceFalError {
  if (error instanceof SourceFalError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UnexpectedError(
    `Unexpected error: ${message}. This is a bug in source-fal; please report it with this message.`,
    {},
    { cause: error },
  );
}

class UnexpectedError extends SourceFalError {
  readonly code = 'unexpected';
  readonly failureType = 'system_error' as const;
}
