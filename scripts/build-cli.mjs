// Bundles the CLI into one minified CommonJS file, dist/soket.cjs, so `soket` starts fast: one file to read
// and no ESM loader work (measured in bench/service-startup.bench.ts). The library itself is compiled by tsc
// to dist/. The bundle is written to a temporary file and renamed, so a running test never sees half a file.
import { renameSync } from 'node:fs';
import { build } from 'esbuild';

const out = new URL('../dist/soket.cjs', import.meta.url).pathname;
const tmp = `${out}.${process.pid}.tmp`;
await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  // koffi is a native, optional dependency: required at run time from node_modules, if present.
  external: ['koffi'],
  // import.meta.url in CommonJS: the bundle's own file URL (used by createRequire and package.json reads).
  banner: { js: 'const __soketImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__soketImportMetaUrl' },
  logLevel: 'warning',
});
renameSync(tmp, out);
