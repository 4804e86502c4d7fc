/**
 * Runs benchmark scenarios (every bench/*.bench.ts, or those named on the command line) and writes each
 * one's results into docs/benchmarks.md. `npm run bench` runs all; `npm run bench -- service-startup` one.
 * The CLI must be built first (`npm run build`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { machine, type Scenario, SOKET_BIN, writeSection } from './lib.js';

const dir = new URL('.', import.meta.url);
// scenario names; `--name value` options are left to the scenarios (e.g. `soak --minutes 2`)
const wanted = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith('--') && !(all[i - 1]?.startsWith('--') ?? false));
if (!existsSync(SOKET_BIN)) {
  console.error('bench: dist/soket.cjs is missing; run `npm run build` first');
  process.exit(2);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const scenarios: Scenario[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(`${dir.pathname}${f}`).href)) as { default: Scenario };
  scenarios.push(mod.default);
}
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length) {
  console.error(
    `bench: unknown scenario ${unknown.join(', ')}; have: ${scenarios.map((s) => s.name).join(', ')}`,
  );
  process.exit(2);
}
console.log(`machine: ${machine()}`);
for (const s of scenarios) {
  if (wanted.length && !wanted.includes(s.name)) continue;
  console.log(`\n== ${s.name}: ${s.title}`);
  const body = await s.run();
  console.log(body);
  writeSection(s.name, s.title, body);
}
