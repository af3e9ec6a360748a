/**
 * A development relay serves the web app's build at `/` under a strict
 * Content-Security-Policy; without a build it says how to make one; a
 * production configuration never serves it.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../server/config';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { TestNetwork } from '../../support/network';
import { type RelayFixture, startTestRelay } from '../../support/relay';

describe('the web app on a development relay', () => {
  let fx: RelayFixture;
  let missing: RelayFixture;
  const dir = mkdtempSync(path.join(tmpdir(), 'handover-web-'));

  beforeAll(async () => {
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Handover</title><script type="module" src="/assets/app.js"></script>');
    writeFileSync(path.join(dir, 'assets', 'app.js'), 'export {};');
    const network = new TestNetwork(await loadCrypto(), Date.now());
    fx = await startTestRelay(network, { config: { webApp: { dir, development: true, idleLockMinutes: 3 } } });
    missing = await startTestRelay(network, { config: { webApp: { dir: path.join(dir, 'nothing-here'), development: true } } });
  });
  afterAll(async () => {
    await fx.close();
    await missing.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and its assets under a CSP without inline script and with connections to the relay only', async () => {
    for (const route of ['/', '/assets/app.js']) {
      const res = await fetch(new URL(route, fx.url));
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
      expect(csp).toMatch(/connect-src 'self'(;|$)/);
      expect(csp).not.toMatch(/'unsafe-inline'|'unsafe-eval'/);
    }
    expect(await (await fetch(new URL('/app-config.json', fx.url))).json()).toEqual({ development: true, idleLockMinutes: 3 });
    expect((await fetch(new URL('/assets/../index.html', fx.url))).status).not.toBe(500);
  });

  it('without a build, says to run npm run build:web: in words to a browser, as a typed error to anything else; never where it looked', async () => {
    const page = await fetch(new URL('/', missing.url), { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.status).toBe(503);
    const text = await page.text();
    expect(text).toMatch(/npm run build:web/);
    expect(text).not.toMatch(/looked for|dist\/web|\/tmp\//);
    const api = await fetch(new URL('/', missing.url));
    expect(api.status).toBe(503);
    expect(await api.json()).toEqual({ error: { code: 'UNAVAILABLE', message: expect.stringMatching(/npm run build:web/) } });
  });

  it('a production relay never serves it; a development one does, from WEB_APP_DIR', () => {
    expect(loadConfig({ NODE_ENV: 'production', HANDOVER_ROOT_PUBLIC_KEY: 'A'.repeat(43) }).webApp).toBeUndefined();
    expect(loadConfig({ WEB_APP_DIR: '/srv/web' }).webApp).toEqual({ dir: '/srv/web', development: true });
  });
});
