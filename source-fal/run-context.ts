/**
 * The one place a front end (the Airbyte CLI in main.ts, tap-fal in singer.ts, `sync` in sync/command.ts) turns a raw
 * config into a run: the parsed config (unknown fields warned about), the HTTP client with the run's budgets and
 * the environment's request timeout, and the logs of retries and, with --debug, of every response. The front ends
 * only parse their arguments and format their output, so they cannot drift apart.
 */
import { requestTimeoutMs, runClock } from './cli-io.js';
import { parseConfig, unknownFieldsWarning } from './config.js';
import { FalClient } from './http/client.js';
import type { Logger } from './log.js';
import type { StreamContext } from './streams/stream.js';

/** `check` and discovery must answer quickly (Airbyte waits on them); a read or sync may wait out a long rate limit. */
export type RunPurpose = 'check' | 'discover' | 'read';

const QUICK_BUDGET_MS = 30_000;

export interface RunEnvironment {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** Builds the stream context of one run. Throws ConfigError for a bad config or a bad SOURCE_FAL_* variable. */
export function openRun(raw: unknown, io: RunEnvironment, log: Logger, purpose: RunPurpose): StreamContext {
  const timeoutMs = requestTimeoutMs(io.env);
  const config = parseConfig(raw, runClock(io.env));
  const unknown = unknownFieldsWarning(config);
  if (unknown) log.log('WARN', unknown);
  const budgetMs = config.maxRetrySeconds * 1000;
  const client = new FalClient({
    baseUrl: config.baseUrl,
    apiKey: config.apiKey,
    signal: io.signal,
    requestTimeoutMs: timeoutMs,
    retry: { maxElapsedMs: purpose === 'read' ? budgetMs : Math.min(QUICK_BUDGET_MS, budgetMs) },
    maxConcurrentRequests: config.maxConcurrentRequests,
    onRetry: (info) =>
      log.log(
        'WARN',
        info.attempt === 0
          ? `Waiting ${(info.delayMs / 1000).toFixed(1)} s before ${info.endpoint}: ${info.reason}`
          : `Retrying ${info.endpoint} in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt}): ${info.reason}${info.announced ? ' (wait announced by fal)' : ''}`,
      ),
    onResponse: (info) =>
      log.log(
        'DEBUG',
        `GET ${info.target} -> HTTP ${info.status} in ${info.elapsedMs} ms${info.requestId ? ` (fal request id ${info.requestId})` : ''}`,
      ),
  });
  return { config, client, log, signal: io.signal };
}

/** 130 for SIGINT, 143 for SIGTERM: the shell's codes for a run stopped by a signal. */
export function interruptedExitCode(signal: AbortSignal): number {
  return signal.reason === 'SIGINT' ? 130 : 143;
}

/** How a read ends, the same for every front end: interrupted, some streams failed (the rest completed), or done. */
export function readExitCode(failed: readonly string[], signal: AbortSignal, log: Logger): number {
  if (signal.aborted) return interruptedExitCode(signal);
  if (failed.length === 0) return 0;
  log.log(
    'ERROR',
    `Sync finished with ${failed.length} failed stream${failed.length > 1 ? 's' : ''}: ${failed.join(', ')}. The other streams completed.`,
  );
  return 1;
}
