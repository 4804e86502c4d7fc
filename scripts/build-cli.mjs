// Bundles the CLI so `soket` starts fast (measured in bench/service-startup.bench.ts):
// - dist/soket.cjs: cli/main.ts with commander, minified CommonJS (no ESM loader work at start-up);
// - dist/commands/<name>.cjs: one bundle per command, required by main only when that command runs, so
//   `soket service 80` reads and compiles the service code and nothing of DNS, NTP or TCP.
// Shared library code is copied into each command bundle; main therefore recognises errors by their `code`,
// never by class. The library itself is compiled by tsc to dist/. Files are built into a temporary folder
// and renamed into place, so a running test never sees half a file.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const tmp = `${root}dist/.cli-${process.pid}`;
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  // koffi is a native, optional dependency: required at run time from node_modules, if present.
  // @peculiar/x509 (with reflect-metadata) is required on first use (net/tls-cert.ts): most runs never need it.
  external: ['koffi', '@peculiar/x509', 'reflect-metadata'],
  // import.meta.url in CommonJS: the bundle's own file URL (used by createRequire and package.json reads).
  banner: { js: 'const __soketImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__soketImportMetaUrl' },
  // import() of a command becomes require(): loading a .cjs file through import() would start the ESM loader
  // and its CommonJS export scanner, several ms of start-up for nothing.
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
};

/** main.ts imports './commands/NAME.js'; in the bundle that is the separate file './commands/NAME.cjs'. */
const commandsAsFiles = {
  name: 'commands-as-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (args) => ({
      path: args.path.replace(/\.js$/, '.cjs'),
      external: true,
    }));
  },
};

/**
 * commander requires node:child_process at load for executable subcommands, which soket does not use: give it
 * a stand-in that requires the real module only if a property is ever read (saves ~10 ms of every start-up).
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/')
        ? { path: 'lazy-child-process', namespace: 'soket-lazy' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'soket-lazy' }, () => ({
      contents:
        "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

// Modules the batched UDP engine loads in its worker threads (platform/udp-engine-shared.ts workerModuleUrl):
// dist/workers/<path with - for />.cjs. The worker keeps import() for handler modules given by URL.
const workerModules = ['platform/udp-engine-worker', 'platform/datagram-handlers', 'ntp/sntp-engine-handler'];

const commandDir = `${root}src/cli/commands/`;
const commands = readdirSync(commandDir).filter((f) => f.endsWith('.ts'));
rmSync(tmp, { recursive: true, force: true });
try {
  await build({
    ...common,
    entryPoints: commands.map((f) => `${commandDir}${f}`),
    outdir: `${tmp}/commands`,
    outExtension: { '.js': '.cjs' },
  });
  await build({
    ...common,
    entryPoints: [`${root}src/cli/main.ts`],
    outfile: `${tmp}/soket.cjs`,
    plugins: [commandsAsFiles, lazyChildProcessForCommander],
  });
  for (const m of workerModules) {
    await build({
      ...common,
      supported: { 'dynamic-import': true },
      entryPoints: [`${root}src/${m}.ts`],
      outfile: `${tmp}/workers/${m.replace(/\//g, '-')}.cjs`,
    });
  }
  mkdirSync(`${root}dist/commands`, { recursive: true });
  mkdirSync(`${root}dist/workers`, { recursive: true });
  for (const f of readdirSync(`${tmp}/workers`))
    renameSync(`${tmp}/workers/${f}`, `${root}dist/workers/${f}`);
  for (const f of readdirSync(`${tmp}/commands`))
    renameSync(`${tmp}/commands/${f}`, `${root}dist/commands/${f}`);
  renameSync(`${tmp}/soket.cjs`, `${root}dist/soket.cjs`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
