/** A tiny logger interface; the Airbyte front end turns lines into LOG messages, `sync` writes them to stderr. */
export type LogLevel = 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';

export interface Logger {
  log(level: LogLevel, message: string): void;
}

export const silentLogger: Logger = { log: () => undefined };
