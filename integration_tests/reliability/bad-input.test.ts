/**
 * Bad input gets one clear error and nothing else happens: `check` answers one CONNECTION_STATUS FAILED (exit 0);
 * `read` answers one TRACE ERROR `config_error` (exit 1) whose message names the field or file and the fix; no
 * RECORD, STATE or stream status, no request to fal, and no stack trace in any message or on stderr.
 *
 * The tables run the CLI's `main()` in-process (the same code the bin runs, milliseconds a case); a sample of each
 * kind also runs through the built CLI as a child process, for the bin's own plumbing (exit code, stdout, stderr).
 */
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../../source-fal/emulator/server.js';
import { main } from '../../source-fal/main.js';
import { type CliResult, runCli, tempDir, writeJson } from '../helpers/cli.js';
import { catalogFor, cliEnv, FIXED_NOW } from '../helpers/fixtures.js';
import { errorTraces, STACK_FRAME } from './harness.js';

let emu: Emulator;
let dir: string;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ now: FIXED_NOW, historyDays: 5 });
  dir = tempDir('source-fal-bad-input-');
});
afterAll(async () => {
  await emu.close();
});

const goodConfig = (): Record<string, unknown> => ({ api_key: ADMIN_KEY, base_url: emu.url, start_date: '2026-11-20' });

/** A file with this content (an object is written as JSON, a string as it is). */
const file = (content: unknown): string => writeJson(dir, `input-${++n}.json`, content);
const missing = (): string => `${dir}/does-not-exist-${++n}.json`;

type ConfigCase = [label: string, config: () => string, message: RegExp];

// Each message must name what is wrong (field or file) and say what to do.
const CONFIG_CASES: ConfigCase[] = [
  ['a missing api_key', () => file({ base_url: emu.url }), /api_key is required: paste a fal ADMIN-scope key/],
  [
    'lookback_days as text',
    () => file({ ...goodConfig(), lookback_days: '3' }),
    /lookback_days must be a whole number of days, e\.g\. 3/,
  ],
  [
    'max_retry_seconds as a fraction',
    () => file({ ...goodConfig(), max_retry_seconds: 1.5 }),
    /max_retry_seconds must be a whole number of seconds/,
  ],
  [
    'a negative max_retry_seconds',
    () => file({ ...goodConfig(), max_retry_seconds: -1 }),
    /max_retry_seconds must be 0 or more/,
  ],
  [
    'an unknown usage_granularity',
    () => file({ ...goodConfig(), usage_granularity: 'week' }),
    /usage_granularity must be "hour" or "day"/,
  ],
  [
    'start_date after end_date',
    () => file({ ...goodConfig(), start_date: '2026-11-20', end_date: '2026-11-10' }),
    /end_date \(2026-11-10\) must be after start_date \(2026-11-20\): move end_date later or start_date earlier/,
  ],
  [
    'a start_date that is not a date',
    () => file({ ...goodConfig(), start_date: 'last monday' }),
    /start_date: expected a date as YYYY-MM-DD or an RFC 3339 timestamp/,
  ],
  [
    'a start_date in the future',
    () => file({ ...goodConfig(), start_date: '2027-01-01' }),
    /start_date \(2027-01-01\) is in the future: set it to a past date/,
  ],
  [
    'a base_url that is not a URL',
    () => file({ ...goodConfig(), base_url: 'api.fal.ai/v1' }),
    /base_url must be an absolute http\(s\) URL such as https:\/\/api\.fal\.ai\/v1/,
  ],
  [
    'a base_url that is not http(s)',
    () => file({ ...goodConfig(), base_url: 'ftp://api.fal.ai/v1' }),
    /base_url must be an absolute http\(s\) URL/,
  ],
  [
    'an api_key with a line break in it',
    () => file({ ...goodConfig(), api_key: ADMIN_KEY.replace(':', ':\n') }),
    /api_key contains spaces, line breaks or non-ASCII characters: paste the key exactly as fal shows it/,
  ],
  [
    'a config that is a JSON array',
    () => file([goodConfig()]),
    /The config must be a JSON object such as \{"api_key": "\.\.\."\}/,
  ],
  [
    'a config file that is not JSON',
    () => file('{"api_key": "x",'),
    /The --config file ".*" is not valid JSON.*Fix the file\./,
  ],
  [
    'a config file that does not exist',
    missing,
    /Cannot read the --config file ".*does-not-exist.*" \(ENOENT\)\. Check the path\./,
  ],
];

/** Runs `main()` in-process with the given argv and env, collecting stdout and stderr like runCli does. */
async function runMain(args: readonly string[], env: Record<string, string> = cliEnv()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  const out = sink((text) => (stdout += text));
  const err = sink((text) => (stderr += text));
  const code = await main(args, { stdout: out, stderr: err, env, signal: new AbortController().signal });
  const messages = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CliResult['messages'][number]);
  return { code, signal: null, messages, stdout, stderr };
}

function expectNoStackTrace(r: CliResult): void {
  for (const m of r.messages) expect(JSON.stringify(m)).not.toMatch(/\\n\s+at \S+/);
  expect(r.stderr).not.toMatch(STACK_FRAME);
}

const types = (r: CliResult): string[] => r.messages.map((m) => m.type);

describe.concurrent('given a bad config', () => {
  it.for(CONFIG_CASES)(
    'when check runs with %s then one CONNECTION_STATUS FAILED names the field and the fix, exit 0',
    async ([, config, message], { expect }) => {
      const r = await runMain(['check', '--config', config()]);

      expect(r.code).toBe(0);
      expect(types(r)).toEqual(['CONNECTION_STATUS']);
      const status = r.messages[0]?.connectionStatus as { status: string; message: string };
      expect(status.status).toBe('FAILED');
      expect(status.message).toMatch(message);
      expectNoStackTrace(r);
    },
  );

  it.for(CONFIG_CASES)(
    'when read runs with %s then one TRACE ERROR config_error names the field and the fix, nothing else, exit 1',
    async ([, config, message], { expect }) => {
      const r = await runMain(['read', '--config', config(), '--catalog', file(catalogFor(['usage']))]);

      expect(r.code).toBe(1);
      expect(types(r)).toEqual(['TRACE']);
      const [error] = errorTraces(r);
      expect(error?.failure_type).toBe('config_error');
      expect(error?.message).toMatch(message);
      expect(error?.stream_descriptor).toBeUndefined();
      expectNoStackTrace(r);
    },
  );
});

type ReadCase = [label: string, args: () => string[], message: RegExp];

const usageState = (streamState: unknown): unknown => [
  { type: 'STREAM', stream: { stream_descriptor: { name: 'usage' }, stream_state: streamState } },
];
const withState = (state: () => string) => (): string[] => [
  '--config',
  file(goodConfig()),
  '--catalog',
  file(catalogFor(['usage'])),
  '--state',
  state(),
];
const withCatalog = (catalog: () => string) => (): string[] => ['--config', file(goodConfig()), '--catalog', catalog()];
const catalogOf = (name: string, mode: string): unknown => ({
  streams: [
    {
      stream: { name, json_schema: {}, supported_sync_modes: ['full_refresh', 'incremental'] },
      sync_mode: mode,
      destination_sync_mode: 'append_dedup',
    },
  ],
});

const READ_CASES: ReadCase[] = [
  [
    'a state file that is not JSON',
    withState(() => file('[{"type": "STREAM",')),
    /The --state file ".*" is not valid JSON.*Fix the file\./,
  ],
  [
    'a state file that does not exist',
    withState(missing),
    /Cannot read the --state file ".*" \(ENOENT\)\. Check the path\./,
  ],
  [
    'a state that is a JSON string',
    withState(() => file('"2026-11-20"')),
    /The state file is not Airbyte state: expected a JSON array of .*omit --state to start from start_date/,
  ],
  ['a state that is an array of numbers', withState(() => file([1, 2])), /The state file is not Airbyte state/],
  [
    'a STREAM state without its stream',
    withState(() => file([{ type: 'STREAM' }])),
    /The state file is not Airbyte state/,
  ],
  [
    'a GLOBAL state',
    withState(() => file([{ type: 'GLOBAL', global: { stream_states: [] } }])),
    /GLOBAL state is not used by source-fal.*omit --state to start over/,
  ],
  [
    'a state whose cursor is not a timestamp',
    withState(() => file(usageState({ bucket: 'yesterday' }))),
    /The state of stream usage in the state file has bucket = "yesterday", which is not an RFC 3339 timestamp.*Fix or remove that stream's entry in the state file\./,
  ],
  [
    'a state whose cursor is a number',
    withState(() => file(usageState({ bucket: 1_764_000_000_000 }))),
    /The state of stream usage in the state file has bucket = 1764000000000/,
  ],
  [
    'a catalog file that is not JSON',
    withCatalog(() => file('{"streams": [')),
    /The --catalog file ".*" is not valid JSON.*Fix the file\./,
  ],
  [
    'a catalog file that does not exist',
    withCatalog(missing),
    /Cannot read the --catalog file ".*" \(ENOENT\)\. Check the path\./,
  ],
  [
    'a catalog that is not a catalog',
    withCatalog(() => file({ streams: 'usage' })),
    /The catalog is not a ConfiguredAirbyteCatalog: expected .*Build it from the output of `discover`\./,
  ],
  [
    'a catalog naming an unknown stream',
    withCatalog(() => file(catalogOf('usage_v2', 'incremental'))),
    /unknown stream "usage_v2" \(known streams: usage/,
  ],
  [
    'a catalog with an unknown sync mode',
    withCatalog(() => file(catalogOf('usage', 'sideways'))),
    /stream usage has sync_mode "sideways"; use one of full_refresh, incremental/,
  ],
  [
    'a catalog listing a stream twice',
    withCatalog(() =>
      file({
        streams: [...(catalogFor(['usage']).streams as unknown[]), ...(catalogFor(['usage']).streams as unknown[])],
      }),
    ),
    /stream usage is listed twice/,
  ],
];

describe.concurrent('given a good config and a bad state or catalog', () => {
  it.for(READ_CASES)(
    'when read runs with %s then one TRACE ERROR config_error names the file and the fix, nothing else, exit 1',
    async ([, args, message], { expect }) => {
      const r = await runMain(['read', ...args()]);

      expect(r.code).toBe(1);
      expect(types(r)).toEqual(['TRACE']);
      const [error] = errorTraces(r);
      expect(error?.failure_type).toBe('config_error');
      expect(error?.message).toMatch(message);
      expectNoStackTrace(r);
    },
  );
});

describe.concurrent('given a bad environment', () => {
  it.for([
    ['SOURCE_FAL_NOW', 'yesterday', /SOURCE_FAL_NOW="yesterday" is not an RFC 3339 timestamp.*Fix or unset it\./],
    [
      'SOURCE_FAL_REQUEST_TIMEOUT_SECONDS',
      'soon',
      /SOURCE_FAL_REQUEST_TIMEOUT_SECONDS="soon" is not a number of seconds.*Fix or unset it\./,
    ],
  ] as const)(
    'when read runs with %s=%s then one TRACE ERROR config_error names the variable and the fix, exit 1',
    async ([name, value, message], { expect }) => {
      const r = await runMain(['read', '--config', file(goodConfig()), '--catalog', file(catalogFor(['usage']))], {
        ...cliEnv(),
        [name]: value,
      });

      expect(r.code).toBe(1);
      expect(types(r)).toEqual(['TRACE']);
      expect(errorTraces(r)[0]?.failure_type).toBe('config_error');
      expect(errorTraces(r)[0]?.message).toMatch(message);
    },
  );
});

describe.concurrent('given a bad command line', () => {
  it.for([
    ['read without --catalog', ['read', '--config', 'config.json'], /read needs --catalog <file>/],
    [
      'an unknown flag',
      ['read', '--config', 'c.json', '--catalog', 'k.json', '--statefile', 's.json'],
      /Unknown option '--statefile'/,
    ],
    ['an unknown command', ['sink'], /unknown command "sink"/],
  ] as const)(
    'when it is %s then exit 2, the usage on stderr and nothing on stdout',
    async ([, args, message], { expect }) => {
      const r = await runMain(args);

      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('Usage:');
    },
  );
});

describe.concurrent('given a sample of each kind of bad input, through the built CLI', () => {
  it.for([
    [
      'check',
      'a mistyped field',
      () => ['check', '--config', file({ ...goodConfig(), lookback_days: '3' })],
      0,
      /lookback_days must be a whole number of days/,
    ],
    [
      'read',
      'a start_date after end_date',
      () => [
        'read',
        '--config',
        file({ ...goodConfig(), end_date: '2026-11-01' }),
        '--catalog',
        file(catalogFor(['usage'])),
      ],
      1,
      /end_date \(2026-11-01\) must be after start_date/,
    ],
    [
      'read',
      'a state file that is not JSON',
      () => ['read', ...withState(() => file('nope'))()],
      1,
      /The --state file ".*" is not valid JSON/,
    ],
    [
      'read',
      'a catalog naming an unknown stream',
      () => ['read', ...withCatalog(() => file(catalogOf('usage_v2', 'incremental')))()],
      1,
      /unknown stream "usage_v2"/,
    ],
  ] as const)(
    'when %s runs with %s then the bin answers the same one message and exit code',
    async ([command, , args, exitCode, message], { expect }) => {
      const r = await runCli(args(), { env: cliEnv() });

      expect(r.code).toBe(exitCode);
      expect(types(r)).toEqual([command === 'check' ? 'CONNECTION_STATUS' : 'TRACE']);
      const only = r.messages[0] as { connectionStatus?: { message: string }; trace?: { error: { message: string } } };
      expect(only.connectionStatus?.message ?? only.trace?.error.message).toMatch(message);
      expectNoStackTrace(r);
    },
  );
});

describe('given every bad input above', () => {
  it('then fal was never called', () => {
    expect(emu.requests).toEqual([]);
  });
});
