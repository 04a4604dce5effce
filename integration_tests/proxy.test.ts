/**
 * Behind a corporate egress proxy: the connector honours HTTPS_PROXY / NO_PROXY (undici's EnvHttpProxyAgent) and a
 * private CA given by NODE_EXTRA_CA_CERTS. For real: the emulator serves HTTPS with a self-signed certificate, a
 * local forward proxy tunnels CONNECT requests and records what it saw, and the built CLI reads through it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const dir = tempDir('source-fal-proxy-');

/** A forward proxy that only tunnels (CONNECT), as egress proxies do for HTTPS; it keeps every byte it was sent in clear. */
async function startProxy(): Promise<{ url: string; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((client: Socket) => {
    client.once('data', (head: Buffer) => {
      const text = head.toString('latin1');
      seen.push(text);
      const match = /^CONNECT ([^\s:]+):(\d+) HTTP\/1\.[01]\r\n/.exec(text);
      if (!match) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
        return;
      }
      const upstream = createConnection({ host: match[1], port: Number(match[2]) }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

describe('given fal behind an HTTPS endpoint with a private CA, reachable only through a forward proxy', () => {
  let emu: Emulator;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let caFile: string;
  beforeAll(async () => {
    const key = join(dir, 'key.pem');
    caFile = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        caFile,
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    emu = await startEmulator({
      now: FIXED_NOW,
      historyDays: 10,
      tls: { key: readFileSync(key, 'utf8'), cert: readFileSync(caFile, 'utf8') },
    });
    proxy = await startProxy();
  });
  afterAll(async () => {
    await emu.close();
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
  });

  const read = (env: Record<string, string>): ReturnType<typeof runCli> =>
    runCli(
      [
        'read',
        '--config',
        writeJson(
          dir,
          `config-${Math.random().toString(36).slice(2)}.json`,
          configFor(emu.url, { api_key: ADMIN_KEY, start_date: '2026-11-20' }),
        ),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['usage'])),
      ],
      {
        env: { ...cliEnv(), NODE_EXTRA_CA_CERTS: caFile, ...env },
      },
    );

  it(
    'when HTTPS_PROXY names the proxy then every request goes through it as a CONNECT tunnel, the records arrive, and the proxy never sees the key',
    { timeout: 60_000 },
    async () => {
      proxy.seen.length = 0;
      const r = await read({ HTTPS_PROXY: proxy.url });
      expect(r.code, r.stderr).toBe(0);
      expect(records(r, 'usage').length).toBeGreaterThan(0);
      expect(emu.url).toMatch(/^https:/);
      expect(proxy.seen.length).toBeGreaterThan(0);
      for (const head of proxy.seen)
        expect(head).toMatch(new RegExp(`^CONNECT 127\\.0\\.0\\.1:${emu.port} HTTP/1\\.1`));
      const clear = proxy.seen.join('\n');
      expect(clear).not.toContain(ADMIN_KEY);
      expect(clear).not.toContain(ADMIN_KEY.split(':')[1]);
    },
  );

  it(
    'when NO_PROXY names the host then the proxy is bypassed and the read still works',
    { timeout: 60_000 },
    async () => {
      proxy.seen.length = 0;
      const r = await read({ HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
      expect(r.code, r.stderr).toBe(0);
      expect(records(r, 'usage').length).toBeGreaterThan(0);
      expect(proxy.seen).toEqual([]);
    },
  );

  it(
    'when the private CA is not given then the read fails with a TLS error rather than trusting the certificate',
    { timeout: 60_000 },
    async () => {
      const r = await runCli(
        [
          'read',
          '--config',
          writeJson(
            dir,
            'config-noca.json',
            configFor(emu.url, { api_key: ADMIN_KEY, start_date: '2026-11-20', max_retry_seconds: 0 }),
          ),
          '--catalog',
          writeJson(dir, 'catalog.json', catalogFor(['usage'])),
        ],
        {
          env: { ...cliEnv(), HTTPS_PROXY: proxy.url },
        },
      );
      expect(r.code).toBe(1);
      expect(records(r, 'usage')).toEqual([]);
      expect(r.stdout).toMatch(
        /is not trusted \(.*\)\. If a proxy inspects TLS with its own certificate authority, give that CA to Node: NODE_EXTRA_CA_CERTS/,
      );
    },
  );
});
