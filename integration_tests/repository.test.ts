/**
 * A reader can follow every reference: each repository path cited in the code, the docs or the README exists, and
 * nothing cites the team's notes outside the repository.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DESTINATION_KINDS } from '../source-fal/sync/destinations.js';
import { REPO_ROOT } from './helpers/cli.js';

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO_ROOT, dir))) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'vendor' || name === 'results') continue;
    if (statSync(join(REPO_ROOT, path)).isDirectory()) out.push(...filesUnder(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out;
}

const SOURCES = [
  ...['source-fal', 'integration_tests', 'bench', 'scripts', 'docs'].flatMap((dir) =>
    filesUnder(dir, (p) => /\.(ts|mjs|sh|md)$/.test(p)),
  ),
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'Dockerfile',
  '.ci/run',
];
/** A repository path: one of our top-level folders, then a file with an extension we keep. */
const CITED_PATH =
  /(?<![\w/.-])((?:source-fal|integration_tests|docs|schemas|scripts|bench|\.ci)\/[\w./-]*[\w-]\.(?:ts|md|json|sh|mjs|ya?ml))\b/g;

describe('given the repository', () => {
  it('then every repository path cited in code, docs and README exists', () => {
    const missing: string[] = [];
    // dockerfile.test.ts and docker-context.test.ts match .dockerignore against made-up paths: test data, not citations.
    for (const file of SOURCES.filter((f) => !/docker(file|-context)\.test\.ts$/.test(f))) {
      for (const match of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(CITED_PATH)) {
        const cited = match[1] ?? '';
        if (cited.includes('*') || cited.startsWith('dist/')) continue;
        if (!existsSync(join(REPO_ROOT, cited))) missing.push(`${file}: ${cited}`);
      }
    }
    expect(missing).toEqual([]);
    expect(SOURCES.length).toBeGreaterThan(50);
  });

  it('then nothing cites notes that are not in the repository', () => {
    const outside = SOURCES.filter((file) =>
      /\b(DESIGN\.md|fal-api\.md|peers-and-lessons\.md|airbyte-protocol\.md|style-study\.md)|\.\.\/shared\//.test(
        readFileSync(join(REPO_ROOT, file), 'utf8'),
      ),
    );
    expect(outside.map((f) => relative(REPO_ROOT, join(REPO_ROOT, f)))).toEqual([]);
  });

  it('then every registered destination runs the loader scenarios in a test named after it, and the sync scenarios', () => {
    const calls = (file: string, fn: string): boolean =>
      existsSync(join(REPO_ROOT, file)) && new RegExp(`\\b${fn}\\(`).test(readFileSync(join(REPO_ROOT, file), 'utf8'));
    for (const kind of DESTINATION_KINDS) {
      const loaderFiles = [`source-fal/sync/${kind}.test.ts`, `integration_tests/sync.${kind}.test.ts`];
      expect(
        loaderFiles.some((file) => calls(file, 'loaderScenarios')),
        `${loaderFiles.join(' or ')} runs loaderScenarios`,
      ).toBe(true);
      expect(
        calls(`integration_tests/sync.${kind}.test.ts`, 'syncScenarios'),
        `sync.${kind}.test.ts runs syncScenarios`,
      ).toBe(true);
    }
  });
});
