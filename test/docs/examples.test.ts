/**
 * Every ```ts block in the README and docs/*.md is type-checked against the real library (as `import ... from
 * 'soket'`), so the documented API cannot drift from the code, and the guide's snippets are run. Blocks fenced
 * as ```sh, ```text or ```js are not checked.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, '.examples-tmp');

interface Block {
  file: string;
  line: number;
  code: string;
}

function blocks(file: string): Block[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Block[] = [];
  const re = /^```ts\n([\s\S]*?)^```/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ file, line: text.slice(0, m.index).split('\n').length + 1, code: m[1] ?? '' });
  }
  return out;
}

describe('documentation examples', () => {
  after(() => rmSync(DIR, { recursive: true, force: true }));

  test('every ```ts block in README.md and docs/*.md type-checks against the library', () => {
    const files = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const all = files.flatMap(blocks);
    assert.ok(all.length >= 3, 'found the examples');
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR);
    const names = all.map((b, i) => {
      const name = `example-${i}.ts`;
      // `export {}` makes each block a module (top-level await, no global clashes).
      writeFileSync(join(DIR, name), `// ${b.file}:${b.line}\n${b.code}\nexport {};\n`);
      return name;
    });
    writeFileSync(
      join(DIR, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          paths: { soket: ['../src/index.ts'], 'soket/codec': ['../src/codec/index.ts'] },
        },
        include: names,
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(DIR, 'tsconfig.json')], { encoding: 'utf8' });
    const located = r.stdout.replace(/\.examples-tmp\/example-(\d+)\.ts\((\d+),(\d+)\)/g, (_, i, line) => {
      const b = all[Number(i)] as Block;
      return `${b.file}:${b.line + Number(line) - 2}`;
    });
    assert.equal(r.status, 0, `documentation examples do not type-check:\n${located}`);
  });

  test('docs/api.md names every runtime export of soket/codec', async () => {
    const codec = await import('../../src/codec/index.js');
    const doc = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const missing = Object.keys(codec).filter(
      (name) => !new RegExp(`\`[^\`]*\\b${name}\\b[^\`]*\``).test(doc),
    );
    assert.deepEqual(missing, [], 'soket/codec exports not mentioned (in backticks) in docs/api.md');
  });

  test('docs/api.md names every runtime export of the library', async () => {
    const api = await import('../../src/index.js');
    const doc = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const missing = Object.keys(api).filter((name) => !new RegExp(`\`[^\`]*\\b${name}\\b[^\`]*\``).test(doc));
    assert.deepEqual(missing, [], 'exports not mentioned (in backticks) in docs/api.md');
  });

  // The guide's and the README's snippets talk only to loopback, so they are run, not just type-checked.
  // `import ... from 'soket'` resolves to the built package through its own `exports` (a self-reference).
  test('every ```ts block in docs/guide.md and README.md runs to completion', async () => {
    const guide = [...blocks('docs/guide.md'), ...blocks('README.md')];
    assert.ok(guide.length >= 9, 'the guide and the README have their snippets');
    mkdirSync(DIR, { recursive: true });
    const tsx = createRequire(import.meta.url).resolve('tsx');
    for (const [i, b] of guide.entries()) {
      const file = join(DIR, `guide-${i}.mts`);
      writeFileSync(file, `${b.code}\nexport {};\n`);
      const r = spawnSync(process.execPath, ['--import', tsx, file], {
        encoding: 'utf8',
        timeout: 20_000,
        cwd: ROOT,
      });
      assert.equal(r.status, 0, `${b.file}:${b.line} failed:\n${r.stdout}\n${r.stderr}`);
    }
  });
});
