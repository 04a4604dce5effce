/**
 * A small Dockerfile reader, enough to check our own Dockerfile where no Docker engine exists: logical lines
 * (backslash continuations, comment lines), stages, build arguments and variable substitution, ENV/LABEL
 * key=value pairs with quotes, exec-form (JSON) and shell-form ENTRYPOINT/CMD, COPY flags, WORKDIR and USER.
 * It follows the Dockerfile reference for these instructions and ignores the rest (kept as raw text).
 */
import { posix } from 'node:path';

export interface Instruction {
  keyword: string;
  /** The arguments as written, continuations joined. */
  raw: string;
  /** 1-based line of the instruction's first line. */
  line: number;
}

export interface CopyInstruction {
  /** `--from=<stage|image>`; undefined for the build context. */
  from: string | undefined;
  flags: Record<string, string | true>;
  sources: string[];
  /** As written. */
  dest: string;
  /** Absolute, resolved against the WORKDIR at that point. */
  resolvedDest: string;
  line: number;
}

export interface Stage {
  index: number;
  name: string | undefined;
  /** FROM's image after substituting global ARGs. */
  base: string;
  instructions: Instruction[];
  env: Map<string, string>;
  labels: Map<string, string>;
  /** The last USER, undefined when none (the base image's user, root for node images). */
  user: string | undefined;
  workdir: string;
  entrypoint: { form: 'exec'; argv: string[] } | { form: 'shell'; command: string } | undefined;
  copies: CopyInstruction[];
  /** RUN commands, shell form as written (continuations joined). */
  runs: string[];
}

export interface Dockerfile {
  globalArgs: Map<string, string>;
  stages: Stage[];
}

/** Logical instructions: continuation lines joined, comment and blank lines dropped. */
export function logicalLines(text: string): Instruction[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const out: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i] ?? '';
    if (first.trim() === '' || first.trimStart().startsWith('#')) continue;
    const start = i + 1;
    let joined = '';
    let current = first;
    // A line ending in an (unescaped) backslash continues on the next non-comment line.
    while (/(^|[^\\])\\\s*$/.test(current)) {
      joined += current.replace(/\\\s*$/, '');
      i++;
      while (i < lines.length && (lines[i] ?? '').trimStart().startsWith('#')) i++;
      current = lines[i] ?? '';
      if (i >= lines.length) break;
    }
    joined += current;
    const match = /^\s*(\S+)\s*([\s\S]*)$/.exec(joined);
    if (!match) continue;
    out.push({ keyword: (match[1] ?? '').toUpperCase(), raw: (match[2] ?? '').trim(), line: start });
  }
  return out;
}

/**
 * Splits on unquoted whitespace, removing quotes and backslash escapes and substituting `$VAR`, `${VAR}`,
 * `${VAR:-default}` and `${VAR:+alt}` outside single quotes (unknown variables become empty, as in Docker).
 */
export function words(text: string, vars: ReadonlyMap<string, string> = new Map()): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
      continue;
    }
    if (quote === '"' && c === '"') {
      quote = undefined;
      continue;
    }
    if (!quote && (c === '"' || c === "'")) {
      quote = c;
      inWord = true;
      continue;
    }
    if (c === '$') {
      const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}/.exec(text.slice(i));
      const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
      if (braced) {
        const value = vars.get(braced[1] ?? '');
        const op = braced[2];
        word +=
          op === '-'
            ? value
              ? value
              : (braced[3] ?? '')
            : op === '+'
              ? value
                ? (braced[3] ?? '')
                : ''
              : (value ?? '');
        i += braced[0].length - 1;
        inWord = true;
        continue;
      }
      if (bare) {
        word += vars.get(bare[1] ?? '') ?? '';
        i += bare[0].length - 1;
        inWord = true;
        continue;
      }
    }
    if (!quote && /\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += c;
    inWord = true;
  }
  if (quote) throw new Error(`unterminated ${quote} quote in: ${text}`);
  if (inWord) out.push(word);
  return out;
}

/** ENV and LABEL arguments: `k=v k2="v 2"` pairs, or the legacy `k v with spaces` form. */
export function keyValues(raw: string, vars: ReadonlyMap<string, string>): [string, string][] {
  const tokens = words(raw, vars);
  const first = tokens[0] ?? '';
  if (!first.includes('=')) {
    const key = first;
    const rest = raw
      .trim()
      .slice(raw.trim().indexOf(key) + key.length)
      .trim();
    return [[key, words(rest, vars).join(' ')]];
  }
  return tokens.map((token) => {
    const eq = token.indexOf('=');
    if (eq <= 0) throw new Error(`expected key=value, got ${JSON.stringify(token)}`);
    return [token.slice(0, eq), token.slice(eq + 1)];
  });
}

function execForm(raw: string): string[] | undefined {
  if (!raw.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) && parsed.every((x) => typeof x === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  let vars = new Map<string, string>();
  for (const instruction of logicalLines(text)) {
    const { keyword, raw } = instruction;
    if (keyword === 'FROM') {
      const [image = '', as, name] = words(raw, globalArgs).filter((w) => !w.startsWith('--platform'));
      stage = {
        index: stages.length,
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        base: image,
        instructions: [],
        env: new Map(),
        labels: new Map(),
        user: undefined,
        workdir: '/',
        entrypoint: undefined,
        copies: [],
        runs: [],
      };
      stages.push(stage);
      vars = new Map();
      continue;
    }
    if (!stage) {
      if (keyword !== 'ARG') throw new Error(`line ${instruction.line}: ${keyword} before the first FROM`);
      for (const [key, value] of argPairs(raw, globalArgs)) globalArgs.set(key, value ?? '');
      continue;
    }
    stage.instructions.push(instruction);
    switch (keyword) {
      case 'ARG':
        // An ARG without a value inside a stage brings the global default into scope.
        for (const [key, value] of argPairs(raw, vars)) vars.set(key, value ?? globalArgs.get(key) ?? '');
        break;
      case 'ENV':
        for (const [key, value] of keyValues(raw, vars)) {
          stage.env.set(key, value);
          vars.set(key, value);
        }
        break;
      case 'LABEL':
        for (const [key, value] of keyValues(raw, vars)) stage.labels.set(key, value);
        break;
      case 'USER':
        stage.user = words(raw, vars)[0];
        break;
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, words(raw, vars).join(' '));
        break;
      case 'ENTRYPOINT': {
        const argv = execForm(raw);
        stage.entrypoint = argv ? { form: 'exec', argv } : { form: 'shell', command: raw };
        break;
      }
      case 'RUN':
        stage.runs.push(raw);
        break;
      case 'COPY':
      case 'ADD': {
        const flags: Record<string, string | true> = {};
        let rest = raw;
        for (let m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest)) {
          flags[m[1] ?? ''] = m[2] === undefined ? true : (words(m[2], vars)[0] ?? '');
          rest = rest.slice(m[0].length);
        }
        const paths = execForm(rest) ?? words(rest, vars);
        if (paths.length < 2) throw new Error(`line ${instruction.line}: ${keyword} needs a source and a destination`);
        const dest = paths.at(-1) ?? '';
        const resolved = posix.resolve(stage.workdir, dest) + (dest.endsWith('/') ? '/' : '');
        const from = flags.from;
        stage.copies.push({
          from: typeof from === 'string' ? from : undefined,
          flags,
          sources: paths.slice(0, -1),
          dest,
          resolvedDest: resolved,
          line: instruction.line,
        });
        break;
      }
      default:
        break;
    }
  }
  return { globalArgs, stages };
}

function argPairs(raw: string, vars: ReadonlyMap<string, string>): [string, string | undefined][] {
  return words(raw, vars).map((token) => {
    const eq = token.indexOf('=');
    return eq < 0 ? [token, undefined] : [token.slice(0, eq), token.slice(eq + 1)];
  });
}

/**
 * Whether a build-context path (relative, with `/`) is left out by .dockerignore rules: Go filepath.Match
 * patterns with `**`, `!` exceptions, the last matching rule winning; a rule matching a directory also
 * leaves out everything under it.
 */
export function isDockerIgnored(path: string, dockerignore: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = posix
        .normalize((negate ? line.slice(1) : line).trim())
        .replace(/^\/+/, '')
        .replace(/\/+$/, '');
      return { negate, regex: globToRegex(pattern) };
    });
  const parts = posix
    .normalize(path)
    .replace(/^\.?\/+/, '')
    .replace(/\/+$/, '')
    .split('/');
  let ignored = false;
  for (let depth = 1; depth <= parts.length; depth++) {
    const prefix = parts.slice(0, depth).join('/');
    for (const rule of rules) if (rule.regex.test(prefix)) ignored = !rule.negate;
    // Once a parent directory is out, a later level can only come back through an exception.
    if (ignored && depth < parts.length && !rules.some((r) => r.negate)) return true;
  }
  return ignored;
}

function globToRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches any number of directories, including none.
      out += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
