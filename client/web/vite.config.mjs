/**
 * Vite build of the web app: client/web → dist/web. No inline script or
 * style in the output (the Content-Security-Policy forbids them), every
 * asset index.html loads carries a subresource-integrity hash (sri plugin),
 * and the build ends with a manifest of every file's SHA-256 and one hash of
 * the whole build (manifest plugin): what an org compares with the
 * published hash before hosting the app (README "The web app").
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

// The same output whatever NODE_ENV the shell has (a test runner's "test", a developer's "development"):
// the build is reproducible, so an org's own build matches the published hash.
process.env.NODE_ENV = 'production';

export const MANIFEST = 'BUILD-SHA256.txt';

/** Every file under `dir` (relative, '/'-separated, sorted), the manifest itself left out. */
function buildFiles(dir, prefix = '') {
  const out = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...buildFiles(dir, rel));
    else if (rel !== MANIFEST) out.push(rel);
  }
  return out.sort();
}

/**
 * Write dist/web/BUILD-SHA256.txt in `sha256sum` format (`sha256sum -c`
 * checks it) and print its own SHA-256: the build hash. The build is
 * reproducible (content-hashed file names, no timestamps), so the same
 * source gives the same hash on any machine.
 */
function buildManifest() {
  let outDir = '';
  return {
    name: 'handover-build-manifest',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      const lines = buildFiles(outDir).map((file) => `${createHash('sha256').update(readFileSync(path.join(outDir, file))).digest('hex')}  ${file}\n`);
      const text = lines.join('');
      writeFileSync(path.join(outDir, MANIFEST), text);
      const hash = createHash('sha256').update(text).digest('hex');
      process.stdout.write(`web build SHA-256 ${hash} (${lines.length} files, listed in ${path.relative(process.cwd(), path.join(outDir, MANIFEST))})\n`);
    },
  };
}

const OUT_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/web');

export default defineConfig({
  root: path.dirname(new URL(import.meta.url).pathname),
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: OUT_DIR,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      output: {
        // libsodium in a chunk of its own: fetched in parallel with the app (modulepreload) and cached
        // across app releases; the first screen's own code is what issue 14's 400 KiB budget counts.
        codeSplitting: { groups: [{ name: 'libsodium', test: /node_modules[\\/]libsodium/ }] },
      },
    },
  },
  plugins: [subresourceIntegrity(), buildManifest()],
});
