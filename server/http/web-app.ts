/**
 * The web app's build (dist/web, `npm run build:web`), served by a
 * DEVELOPMENT relay at `/` so `npm start` shows it. A production relay never
 * serves it: the relay is assumed compromised and could serve a backdoored
 * app (THREAT-MODEL.md), so orgs host the static build themselves.
 *
 * Every page and asset goes out under a strict Content-Security-Policy: only
 * this origin's scripts (libsodium's WebAssembly needs 'wasm-unsafe-eval'),
 * no inline script or style, connections to this origin only.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Response } from 'express';

export const WEB_APP_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export interface WebAppOptions {
  /** The built app (index.html and assets/). */
  dir: string;
  /** Development relay: the app shows a banner saying so. */
  development: boolean;
  /** Minutes of no input before the app locks itself (the app's default when unset). */
  idleLockMinutes?: number;
}

function strict(res: Response): void {
  res.set('content-security-policy', WEB_APP_CSP);
  res.set('referrer-policy', 'no-referrer');
  res.set('x-content-type-options', 'nosniff');
}

export function serveWebApp(app: Express, options: WebAppOptions): void {
  const dir = path.resolve(options.dir);
  const index = path.join(dir, 'index.html');
  app.get(['/', '/index.html'], (req, res) => {
    strict(res);
    res.set('cache-control', 'no-store');
    if (!existsSync(index)) {
      // A person's browser gets a sentence; every other client the relay's typed error. The folder stays in the relay's own config.
      const message = 'The web app is not built yet: run `npm run build:web` in the Handover checkout, then reload this page.';
      if (req.accepts(['json', 'html']) === 'html') res.status(503).type('text/plain; charset=utf-8').send(`${message}\n`);
      else res.status(503).json({ error: { code: 'UNAVAILABLE', message } });
      return;
    }
    res.sendFile(index);
  });
  app.get('/app-config.json', (_req, res) => {
    strict(res);
    res.set('cache-control', 'no-store');
    res.json({ development: options.development, ...(options.idleLockMinutes ? { idleLockMinutes: options.idleLockMinutes } : {}) });
  });
  app.use(
    '/assets',
    (_req, res, next) => {
      strict(res);
      next();
    },
    express.static(path.join(dir, 'assets'), { index: false, dotfiles: 'ignore', immutable: true, maxAge: '365d', fallthrough: true }),
  );
}
