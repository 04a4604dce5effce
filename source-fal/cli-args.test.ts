import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { parseFlags } from './cli-args.js';

function command(): { name: string; usage: string; stdout: PassThrough; stderr: PassThrough; out: () => string[] } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  return {
    name: 'source-fal demo',
    usage: 'Usage: source-fal demo [--schema <name>]',
    stdout,
    stderr,
    out: () => [String(stdout.read() ?? ''), String(stderr.read() ?? '')],
  };
}

const OPTIONS = { schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

describe('parseFlags', () => {
  it('given known flags when parsed then their typed values', () => {
    const cmd = command();
    expect(parseFlags(['--schema', 'fal'], OPTIONS, cmd)).toEqual({ schema: 'fal' });
    expect(cmd.out()).toEqual(['', '']);
  });

  it('given an unknown flag when parsed then exit 2, the command name, the cause and the usage on stderr only', () => {
    const cmd = command();
    expect(parseFlags(['--shema', 'fal'], OPTIONS, cmd)).toBe(2);
    const [stdout, stderr] = cmd.out();
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^source-fal demo: Unknown option '--shema'/);
    expect(stderr).toContain('Usage: source-fal demo');
  });

  it('given a positional argument when parsed then exit 2', () => {
    expect(parseFlags(['fal'], OPTIONS, command())).toBe(2);
  });

  it('given -h when parsed then exit 0 with the usage on stdout', () => {
    const cmd = command();
    expect(parseFlags(['-h'], OPTIONS, cmd)).toBe(0);
    expect(cmd.out()).toEqual(['Usage: source-fal demo [--schema <name>]\n', '']);
  });

  it('given a command without a help flag when --help is passed then it is an unknown flag', () => {
    expect(parseFlags(['--help'], { schema: { type: 'string' } }, command())).toBe(2);
  });
});
