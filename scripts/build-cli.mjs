// Bundles the CLI into one minified CommonJS file, dist/soket.cjs, so `soket` starts fast: one file to read
// and no ESM loader work (measured in bench/cli-startup.ts). The library itself is compiled by tsc to dist/.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outfile: new URL('../dist/soket.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: ['koffi'],
  define: { SOKET_VERSION: JSON.stringify(version) },
  // main.ts reads package.json through import.meta only when SOKET_VERSION is not defined (running from source).
  logOverride: { 'empty-import-meta': 'silent' },
  logLevel: 'warning',
});
