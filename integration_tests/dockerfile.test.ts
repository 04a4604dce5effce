/**
 * The Dockerfile, checked without a Docker engine (CI has none): it is parsed, its properties are asserted
 * (official Node 24 base, multi-stage, non-root runtime, AIRBYTE_ENTRYPOINT == ENTRYPOINT, labels agreeing with
 * package.json and metadata.yaml), every file it copies exists in the local build output, and the runtime
 * stage's layout, assembled from that output in a temporary directory, answers `spec` and `discover` (against the
 * fal emulator) as the image would.
 * `npm test` builds before it runs, so dist/ is current.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import { sampleConfig } from './helpers/acceptance.js';
import { REPO_ROOT, tempDir } from './helpers/cli.js';
import {
  type CopyInstruction,
  type Dockerfile,
  isDockerIgnored,
  keyValues,
  logicalLines,
  parseDockerfile,
  type Stage,
  words,
} from './helpers/dockerfile.js';
import { cliEnv, FIXED_NOW } from './helpers/fixtures.js';

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; dependencies: Record<string, string> };
const metadata = (parseYaml(read('metadata.yaml')) as { data: { dockerRepository: string; dockerImageTag: string } })
  .data;

// Official Docker Hub node images only (optionally pinned by digest): node:24, 24-slim, 24-bookworm-slim, 24-alpine3.22 …
const OFFICIAL_NODE_24 =
  /^(docker\.io\/)?(library\/)?node:24(\.\d+){0,2}(-(slim|alpine[\d.]*|bookworm|bookworm-slim|trixie|trixie-slim))?(@sha256:[0-9a-f]{64})?$/;

describe('given the Dockerfile parser', () => {
  it('then continuation lines join, comment lines inside them drop, and keywords are case-insensitive', () => {
    const lines = logicalLines('# c\nrun a \\\n  # inside\n  && b\n\nENV X=1\n');
    expect(lines.map((l) => [l.keyword, l.raw, l.line])).toEqual([
      ['RUN', 'a   && b', 2],
      ['ENV', 'X=1', 6],
    ]);
  });

  it('then ENV and LABEL pairs keep quoted spaces, escapes and substitute variables', () => {
    const vars = new Map([['V', '1.2']]);
    expect(keyValues('a="x y" b=\'$V\' c=${V} d=${NOPE:-z} e=q\\ r', vars)).toEqual([
      ['a', 'x y'],
      ['b', '$V'],
      ['c', '1.2'],
      ['d', 'z'],
      ['e', 'q r'],
    ]);
    expect(keyValues('LEGACY some value', vars)).toEqual([['LEGACY', 'some value']]);
    expect(() => words('"open')).toThrow(/unterminated/);
  });

  it('then stages, global ARGs in FROM, WORKDIR, COPY flags and exec-form ENTRYPOINT are read', () => {
    const parsed = parseDockerfile(
      [
        'ARG IMG=node:24-slim',
        'FROM ${IMG} AS build',
        'WORKDIR /b',
        'COPY a.json b/ ./',
        'FROM $IMG',
        'WORKDIR /app',
        'WORKDIR sub',
        'COPY --from=build --chown=node:node /b/dist/ dist/',
        'USER node',
        'ENTRYPOINT ["node", "/app/sub/dist/main.js"]',
      ].join('\n'),
    );
    expect(parsed.stages.map((s) => [s.name, s.base])).toEqual([
      ['build', 'node:24-slim'],
      [undefined, 'node:24-slim'],
    ]);
    expect(parsed.stages[0]?.copies[0]).toMatchObject({
      from: undefined,
      sources: ['a.json', 'b/'],
      resolvedDest: '/b/',
    });
    expect(parsed.stages[1]?.copies[0]).toMatchObject({
      from: 'build',
      flags: { chown: 'node:node' },
      sources: ['/b/dist/'],
      resolvedDest: '/app/sub/dist/',
    });
    expect(parsed.stages[1]?.entrypoint).toEqual({ form: 'exec', argv: ['node', '/app/sub/dist/main.js'] });
    expect(parsed.stages[1]?.user).toBe('node');
  });

  it('then .dockerignore rules match like Docker: directories, ** and exceptions', () => {
    const rules = 'node_modules\n**/secrets\n*.log\ndocs\n!docs/keep.md\n';
    expect(isDockerIgnored('node_modules/zod/index.js', rules)).toBe(true);
    expect(isDockerIgnored('integration_tests/secrets/config.json', rules)).toBe(true);
    expect(isDockerIgnored('secrets', rules)).toBe(true);
    expect(isDockerIgnored('a.log', rules)).toBe(true);
    expect(isDockerIgnored('sub/a.log', rules)).toBe(false);
    expect(isDockerIgnored('docs/other.md', rules)).toBe(true);
    expect(isDockerIgnored('docs/keep.md', rules)).toBe(false);
    expect(isDockerIgnored('source-fal/main.ts', rules)).toBe(false);
  });
});

describe('given the repository Dockerfile', () => {
  let dockerfile: Dockerfile;
  let build: Stage;
  let runtime: Stage;
  const dockerignore = read('.dockerignore');

  beforeAll(() => {
    dockerfile = parseDockerfile(read('Dockerfile'));
    runtime = dockerfile.stages.at(-1) as Stage;
    const fromBuild = runtime.copies.find((c) => c.from !== undefined)?.from;
    build = dockerfile.stages.find((s) => s.name === fromBuild) as Stage;
  });

  /** Where a path inside the build stage comes from locally: the build WORKDIR is the repository root. */
  const localOfBuildPath = (path: string): string => {
    const rel = posix.relative(build.workdir, posix.resolve(build.workdir, path));
    expect(rel.startsWith('..'), `${path} lies inside the build stage's WORKDIR ${build.workdir}`).toBe(false);
    return join(REPO_ROOT, rel);
  };

  /** The local file behind an absolute path in the runtime image, through the runtime COPY that put it there. */
  const localOfImagePath = (path: string): string | undefined => {
    for (const copy of runtime.copies) {
      const dest = copy.resolvedDest.replace(/\/$/, '');
      if (path !== dest && !path.startsWith(`${dest}/`)) continue;
      const source = (copy.sources[0] ?? '').replace(/\/$/, '');
      return localOfBuildPath(posix.join(source, path.slice(dest.length)));
    }
    return undefined;
  };

  it('then it has a build stage and a runtime stage, both on an official node:24 image', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    expect(build, 'the runtime stage copies from a named build stage').toBeDefined();
    expect(build).not.toBe(runtime);
    const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
    for (const stage of dockerfile.stages) {
      if (stageNames.has(stage.base)) continue;
      expect(stage.base, `stage ${stage.index} base`).toMatch(OFFICIAL_NODE_24);
    }
  });

  it('then the build stage installs with npm ci, builds, and prunes dev dependencies, in that order', () => {
    const script = build.runs.join(' && ');
    const at = (needle: RegExp): number => script.search(needle);
    expect(at(/\bnpm ci\b/)).toBeGreaterThanOrEqual(0);
    expect(at(/\bnpm run build\b/)).toBeGreaterThan(at(/\bnpm ci\b/));
    expect(at(/\bnpm prune --omit=dev\b/)).toBeGreaterThan(at(/\bnpm run build\b/));
  });

  it('then every build-stage COPY from the context exists in the repository and is not left out by .dockerignore', () => {
    const fromContext = build.copies.filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const copy of fromContext) {
      for (const source of copy.sources) {
        expect(existsSync(join(REPO_ROOT, source)), `${source} exists`).toBe(true);
        expect(isDockerIgnored(source, dockerignore), `${source} is in the build context`).toBe(false);
      }
    }
    // package-lock.json must go in with package.json, before npm ci.
    const lockCopy = build.copies.find((c) => c.sources.includes('package-lock.json'));
    expect(lockCopy?.sources).toContain('package.json');
  });

  it('then .dockerignore keeps secrets, installs, builds and git out of the build context', () => {
    for (const path of [
      'integration_tests/secrets/config.json',
      'node_modules/zod/package.json',
      'dist/source-fal/main.js',
      '.git/config',
    ]) {
      expect(isDockerIgnored(path, dockerignore), path).toBe(true);
    }
  });

  it('then the runtime stage copies only from the build stage: package.json, production node_modules, schemas/, dbt/ and dist/source-fal/', () => {
    expect(
      runtime.copies.every((c: CopyInstruction) => c.from === build.name),
      'nothing from the context or elsewhere',
    ).toBe(true);
    const sources = runtime.copies.flatMap((c) =>
      c.sources.map((s) => posix.relative(build.workdir, s.replace(/\/$/, ''))),
    );
    expect(sources.sort()).toEqual(['dbt', 'dist/source-fal', 'node_modules', 'package.json', 'schemas']);
    expect(
      runtime.copies.some((c) => c.sources.some((s) => s.includes('integration_tests'))),
      'no test or emulator code in the image',
    ).toBe(false);
  });

  it('then every file the runtime stage copies exists in the local build output', () => {
    for (const copy of runtime.copies) {
      for (const source of copy.sources)
        expect(existsSync(localOfBuildPath(source)), `${source} (run npm run build)`).toBe(true);
    }
  });

  it('then schemas/ sits two levels above dist/source-fal/ in the image, where source-fal/schemas.ts looks for it', () => {
    const imageMain =
      runtime.copies
        .find((c) => c.sources.some((s) => s.endsWith('dist/source-fal/') || s.endsWith('dist/source-fal')))
        ?.resolvedDest.replace(/\/$/, '') ?? '';
    const imageSchemas = runtime.copies
      .find((c) => c.sources.some((s) => /schemas\/?$/.test(s)))
      ?.resolvedDest.replace(/\/$/, '');
    expect(imageSchemas).toBe(posix.join(imageMain, '..', '..', 'schemas'));
    const imagePackage = runtime.copies.find((c) => c.sources.some((s) => s.endsWith('package.json')))?.resolvedDest;
    expect(imagePackage).toBe(posix.join(imageSchemas ?? '', '..', 'package.json'));
  });

  it('then the runtime user is not root', () => {
    expect(runtime.user).toBeDefined();
    const [user = '', group] = (runtime.user ?? '').split(':');
    expect(['root', '0']).not.toContain(user);
    if (group !== undefined) expect(['root', '0']).not.toContain(group);
  });

  it('then ENTRYPOINT is exec form, runs the built main.js with node, and AIRBYTE_ENTRYPOINT is it joined by spaces', () => {
    const entrypoint = runtime.entrypoint;
    expect(entrypoint?.form).toBe('exec');
    const argv = entrypoint?.form === 'exec' ? entrypoint.argv : [];
    expect(argv[0]).toBe('node');
    expect(runtime.env.get('AIRBYTE_ENTRYPOINT')).toBe(argv.join(' '));
    const script = argv[1] ?? '';
    expect(posix.isAbsolute(script), 'absolute, so it does not depend on the working directory').toBe(true);
    const local = localOfImagePath(script);
    expect(local && relative(REPO_ROOT, local)).toBe(join('dist', 'source-fal', 'main.js'));
    expect(existsSync(local ?? '')).toBe(true);
  });

  it('then the io.airbyte labels name the metadata.yaml repository and the package.json version', () => {
    expect(runtime.labels.get('io.airbyte.name')).toBe(metadata.dockerRepository);
    expect(runtime.labels.get('io.airbyte.version')).toBe(pkg.version);
    expect(metadata.dockerImageTag).toBe(pkg.version);
  });

  it('then every package the built connector imports is a production dependency, so npm prune --omit=dev keeps it', () => {
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (entry.endsWith('.js')) {
          for (const m of readFileSync(path, 'utf8').matchAll(
            /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g,
          ))
            imported.add(m[1] ?? '');
        }
      }
    };
    walk(join(REPO_ROOT, 'dist', 'source-fal'));
    const packages = [...imported]
      .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtins.has(s))
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? s)));
    expect(packages.length).toBeGreaterThan(0);
    for (const name of new Set(packages))
      expect(pkg.dependencies, `${name} is imported by dist/source-fal`).toHaveProperty([name]);
  });

  describe('when the runtime stage is assembled from the local build output in a temporary root', () => {
    let root: string;
    let emu: Emulator;
    beforeAll(async () => {
      root = tempDir('source-fal-image-');
      for (const copy of runtime.copies) {
        const target = join(root, copy.resolvedDest);
        for (const source of copy.sources) {
          const local = localOfBuildPath(source);
          const dest =
            copy.resolvedDest.endsWith('/') && !statSync(local).isDirectory()
              ? join(target, posix.basename(source))
              : target;
          mkdirSync(dirname(dest), { recursive: true });
          // node_modules is linked, not copied (it is large); the import check above guards production-only use.
          if (posix.basename(source.replace(/\/$/, '')) === 'node_modules')
            symlinkSync(realpathSync(local), dest.replace(/\/$/, ''), 'dir');
          else cpSync(local, dest, { recursive: true });
        }
      }
      // The image makes its WORKDIR (/data) with a RUN step, which this assembly does not run.
      mkdirSync(join(root, runtime.workdir), { recursive: true });
      emu = await startEmulator({ now: FIXED_NOW, historyDays: 40 });
    });
    afterAll(async () => {
      await emu.close();
    });

    /**
     * `docker run --rm <image> <args>`: the ENTRYPOINT with its absolute paths moved under the temporary root.
     * Asynchronous: the emulator serves from this process, so a blocking spawnSync would starve it.
     */
    const dockerRun = (
      args: string[],
    ): Promise<{ status: number | null; stderr: string; messages: { type: string; [key: string]: unknown }[] }> =>
      new Promise((resolve, reject) => {
        const argv = runtime.entrypoint?.form === 'exec' ? runtime.entrypoint.argv : [];
        const [, script = '', ...rest] = argv;
        const child = spawn(process.execPath, [join(root, script), ...rest, ...args], {
          cwd: join(root, runtime.workdir),
          env: { PATH: process.env.PATH ?? '', ...Object.fromEntries(runtime.env), ...cliEnv() },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (status) => {
          const messages = stdout
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l) as { type: string });
          resolve({ status, stderr, messages });
        });
      });

    it('then `spec` prints the spec, as `docker run --rm <image> spec` would', async () => {
      const r = await dockerRun(['spec']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.messages.map((m) => m.type)).toEqual(['SPEC']);
      expect(r.messages[0]?.spec).toEqual(JSON.parse(read('schemas/spec.json')));
    });

    it('then `discover` finds every stream schema in the image layout (schemas/ where schemas.ts looks)', async () => {
      const configPath = join(root, 'config.json');
      writeFileSync(configPath, JSON.stringify(sampleConfig(emu.url)));
      const r = await dockerRun(['discover', '--config', configPath]);
      expect(r.status, r.stderr).toBe(0);
      const catalog = r.messages.find((m) => m.type === 'CATALOG')?.catalog as
        { streams: { name: string }[] } | undefined;
      expect(catalog?.streams.map((s) => s.name)).toEqual(ALL_STREAMS.map((s) => s.name));
    });
  });
});
