/**
 * The image's build stage compiles source-fal/ from the Docker build context, which .dockerignore trims (no tests, no
 * emulator tests, no integration_tests/). The full local build cannot show a product file importing something the
 * context leaves out (issue 16: sync/demo.ts imported integration_tests/emulator/server.js and `docker build`
 * failed in tsc), so this follows every relative import of the product code against the context instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './helpers/cli.js';
import { isDockerIgnored, parseDockerfile } from './helpers/dockerfile.js';

const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function productFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return productFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Relative imports of one file, as repository paths of the .ts (or .json) file they resolve to. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((match) => {
    const spec = match[1] ?? '';
    const target = join(dirname(file), spec.endsWith('.js') ? `${spec.slice(0, -3)}.ts` : spec);
    return relative(REPO_ROOT, target).split('\\').join('/');
  });
}

describe('given the Docker build context (.dockerignore) and the build stage COPYs', () => {
  const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
  const build = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).stages[0];
  const copied = (build?.copies ?? [])
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources.map((s) => posix.normalize(s)));
  const inBuildStage = (path: string): boolean =>
    !isDockerIgnored(path, dockerignore) &&
    copied.some(
      (source) => path === source.replace(/\/$/, '') || path.startsWith(source.endsWith('/') ? source : `${source}/`),
    );

  it('then the test code the issue saw imported is outside the build stage, so this check can fail', () => {
    expect(inBuildStage('integration_tests/emulator/server.ts')).toBe(false);
    expect(inBuildStage('source-fal/cli-io.test.ts')).toBe(false);
    expect(inBuildStage('source-fal/main.ts')).toBe(true);
  });

  it('then every relative import of the product code resolves to a file the build stage copies', () => {
    const files = productFiles(join(REPO_ROOT, 'source-fal'));
    expect(files.length).toBeGreaterThan(10);
    const outside = files.flatMap((file) =>
      importsOf(file)
        .filter((target) => !existsSync(join(REPO_ROOT, target)) || !inBuildStage(target))
        .map((target) => `${relative(REPO_ROOT, file)} imports ${target}`),
    );
    expect(outside).toEqual([]);
  });
});
