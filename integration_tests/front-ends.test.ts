/**
 * The three front ends (the Airbyte CLI `source-fal read`, the Singer tap `tap-fal`, and `source-fal sync`) share one
 * run context (source-fal/run-context.ts): the same bad input gives the same cause and the same exit code in each.
 * Also `source-fal --help` / `--version`, and `discover --configured` feeding `read` for a key without an
 * organization.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { CLI, records, REPO_ROOT, runCli, statuses, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const TAP = join(REPO_ROOT, 'dist', 'source-fal', 'singer.js');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = tempDir('source-fal-front-');

interface Outcome {
  code: number;
  /** Everything the run printed, stdout and stderr, with JSON's \" read as ". */
  text: string;
  stdout: string;
}

/** Protocol messages carry the cause inside JSON strings; compare the words, not the escaping. */
const unescape = (text: string): string => text.replace(/\\"/g, '"');

/** Runs a built bin asynchronously (the emulator answers from this process). */
async function run(script: string, args: string[], env: Record<string, string>): Promise<Outcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, text: unescape(`${stdout}\n${stderr}`), stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      text: unescape(`${e.stdout ?? ''}\n${e.stderr ?? ''}`),
      stdout: e.stdout ?? '',
    };
  }
}

describe('given the three front ends and the same bad input', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  const frontEnds = (config: string): [string, string, string[]][] => [
    [
      'source-fal read',
      CLI,
      ['read', '--config', config, '--catalog', writeJson(dir, 'catalog.json', catalogFor(['usage']))],
    ],
    ['tap-fal', TAP, ['--config', config]],
    [
      'source-fal sync',
      CLI,
      [
        'sync',
        '--config',
        config,
        '--destination',
        join(dir, `x-${Math.random().toString(36).slice(2)}.duckdb`),
        '--streams',
        'usage',
      ],
    ],
  ];

  it.for([
    [
      'SOURCE_FAL_REQUEST_TIMEOUT_SECONDS=soon',
      { SOURCE_FAL_REQUEST_TIMEOUT_SECONDS: 'soon' },
      'good',
      /SOURCE_FAL_REQUEST_TIMEOUT_SECONDS="soon" is not a number of seconds/,
    ],
    [
      'a config file that does not exist',
      {},
      'missing',
      /Cannot read the --config file ".*does-not-exist\.json" \(ENOENT\)/,
    ],
    ['a config with lookback_days -1', {}, 'bad', /lookback_days must be 0 or more/],
  ] as const)(
    'when each runs with %s then each fails with exit 1 and the same cause',
    { timeout: 60_000 },
    async ([, env, which, cause]) => {
      const config =
        which === 'missing'
          ? join(dir, 'does-not-exist.json')
          : writeJson(
              dir,
              `config-${which}.json`,
              configFor(emu.url, { start_date: '2026-11-20', ...(which === 'bad' ? { lookback_days: -1 } : {}) }),
            );
      for (const [name, script, args] of frontEnds(config)) {
        const outcome = await run(script, args, { ...cliEnv(), ...env });
        expect(outcome.code, `${name}: ${outcome.text}`).toBe(1);
        expect(outcome.text, name).toMatch(cause);
      }
    },
  );

  it('when source-fal is asked for --help or --version then it answers, exit 0', async () => {
    const help = await run(CLI, ['--help'], cliEnv());
    expect(help.code).toBe(0);
    expect(help.text).toMatch(/source-fal spec/);
    const version = await run(CLI, ['--version'], cliEnv());
    expect(version.code).toBe(0);
    expect(version.text.trim()).toBe(`source-fal ${VERSION}`);
  });

  it(
    'when a key without an organization runs discover --configured and read takes its output then every stream completes',
    { timeout: 60_000 },
    async () => {
      const config = writeJson(
        dir,
        'config-configured.json',
        configFor(emu.url, { api_key: ADMIN_KEY, start_date: '2026-11-20' }),
      );
      const discovered = await run(CLI, ['discover', '--config', config, '--configured'], cliEnv());
      expect(discovered.code, discovered.text).toBe(0);
      // stdout is the catalog file alone (logs go to stderr).
      const catalog = JSON.parse(discovered.stdout) as {
        streams: { stream: { name: string }; sync_mode: string; destination_sync_mode: string }[];
      };
      const names = catalog.streams.map((s) => s.stream.name);
      expect(names).not.toContain('org_usage');
      expect(catalog.streams.find((s) => s.stream.name === 'usage')).toMatchObject({
        sync_mode: 'incremental',
        destination_sync_mode: 'append_dedup',
      });
      expect(catalog.streams.find((s) => s.stream.name === 'credits')).toMatchObject({
        sync_mode: 'full_refresh',
        destination_sync_mode: 'overwrite',
      });
      const read = await runCli(['read', '--config', config, '--catalog', writeJson(dir, 'configured.json', catalog)], {
        env: cliEnv(),
      });
      expect(read.code, read.stderr).toBe(0);
      for (const name of names) expect(statuses(read, name).at(-1), name).toBe('COMPLETE');
      expect(records(read, 'usage').length).toBeGreaterThan(0);
    },
  );
});
