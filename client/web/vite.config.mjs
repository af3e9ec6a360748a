/**
 * Vite build of the web app: client/web → dist/web. No inline script or
 * style in the output (the Content-Security-Policy forbids them), and every
 * asset the page loads carries a subresource-integrity hash (sri plugin).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { defineConfig } from 'vite';

/** Add integrity="sha384-…" to every script and stylesheet the built index.html loads. */
function subresourceIntegrity() {
  return {
    name: 'handover-sri',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = bundle['index.html'];
      if (!html || html.type !== 'asset') return;
      let text = String(html.source);
      for (const [file, chunk] of Object.entries(bundle)) {
        if (file === 'index.html') continue;
        const content = chunk.type === 'chunk' ? chunk.code : chunk.source;
        const digest = createHash('sha384').update(content).digest('base64');
        text = text.replace(new RegExp(`((?:src|href)="/${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}")`, 'g'), `$1 integrity="sha384-${digest}"`);
      }
      html.source = text;
    },
  };
}

export default defineConfig({
  root: path.dirname(new URL(import.meta.url).pathname),
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
  },
  plugins: [subresourceIntegrity()],
});
