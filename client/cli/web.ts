/**
 * `handover web`: serve the web app's build (`npm run build:web`) on this
 * machine only (127.0.0.1), for an office that runs it on one computer
 * rather than hosting it. The app comes from this checkout, not from the
 * relay (THREAT-MODEL.md §7); it talks to the relay across origins, so the
 * relay must list this origin in CORS_ORIGINS.
 *
 * A small static server: the built files only (no directory listing, no
 * path outside the build), every answer under a strict Content-Security-
 * Policy whose connect-src is this origin and the relay.
 */
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { HandoverError } from '../sdk';
import { output, progress, serverUrl } from './context';
import { globalOptions, run } from './run';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

export interface WebServerOptions {
  /** The build folder (index.html and assets/). */
  dir: string;
  /** The relay's base URL the app talks to. */
  relay: string;
  host?: string;
  port?: number;
  idleLockMinutes?: number;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** The policy for a page from `origin` that talks to `relay` (HTTP and its WebSocket). */
export function webAppCsp(relay: string): string {
  const r = new URL(relay);
  const ws = `${r.protocol === 'https:' ? 'wss:' : 'ws:'}//${r.host}`;
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${r.origin} ${ws}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Where the build is: dist/web of this checkout, two folders up from the compiled CLI (dist/cli) and from its sources (client/cli) alike. */
export function defaultWebDir(): string {
  return path.resolve(__dirname, '../../dist/web');
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const dir = path.resolve(options.dir);
  // A build has its assets folder; the app's source folder (client/web) has an index.html too, which no browser can run.
  if (!existsSync(path.join(dir, 'index.html')) || !existsSync(path.join(dir, 'assets'))) {
    throw new HandoverError('BAD_REQUEST', `no web app build in ${dir}: run \`npm run build:web\` in the Handover checkout first`);
  }
  const relay = new URL(options.relay).origin;
  const csp = webAppCsp(relay);
  const config = JSON.stringify({ relay, development: false, ...(options.idleLockMinutes ? { idleLockMinutes: options.idleLockMinutes } : {}) });
  const server = http.createServer((req, res) => {
    res.setHeader('content-security-policy', csp);
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (pathname === '/app-config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config);
      return;
    }
    const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
    const file = path.resolve(dir, rel);
    // Only files of the build: no '..' out of it, no hidden files.
    if (!file.startsWith(`${dir}${path.sep}`) || rel.split('/').some((part) => part.startsWith('.'))) {
      res.writeHead(404).end();
      return;
    }
    fs.readFile(file)
      .then((body) => {
        const immutable = rel.startsWith('assets/');
        res
          .writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-store' })
          .end(req.method === 'HEAD' ? undefined : body);
      })
      .catch(() => {
        res.writeHead(404).end();
      });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8088, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description('serve the web app (npm run build:web) on this machine only, talking to the relay (--server)')
    .option('--port <port>', 'port on 127.0.0.1', '8088')
    .option('--dir <folder>', 'the web app build (default: dist/web of this checkout)')
    .option('--idle-lock <minutes>', 'lock the app after this many minutes without input', '5')
    .action(
      run(program, async (o: { port: string; dir?: string; idleLock: string }) => {
        const opts = globalOptions(program);
        const port = Number(o.port);
        const idle = Number(o.idleLock);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new HandoverError('BAD_REQUEST', '--port must be a whole number from 0 to 65535');
        if (!(idle > 0)) throw new HandoverError('BAD_REQUEST', '--idle-lock must be a number of minutes above 0');
        const relay = serverUrl(opts);
        const web = await startWebServer({ dir: o.dir ?? defaultWebDir(), relay, port, idleLockMinutes: idle });
        output(
          opts,
          { url: web.url, relay },
          `The web app is at ${web.url} (this machine only), talking to the relay at ${relay}.\n` +
            `The relay must allow this origin: start it with CORS_ORIGINS=${web.url}\nCtrl-C stops it.`,
        );
        progress('serving; Ctrl-C to stop');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await web.close();
      }),
    );
}
