// Runs the test suite: every test/**/*.test.ts (Node 20's --test has no glob), or the files/directories given.
// `npm test` runs all; `npm test -- test/dns` runs one directory.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const full = join(path, name);
      if (statSync(full).isDirectory()) return name === 'helpers' || name === 'fixtures' ? [] : find(full);
      return name.endsWith('.test.ts') ? [full] : [];
    });
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap(find);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
