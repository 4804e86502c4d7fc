/**
 * The always-on sample of the fuzzers (issue 17): 2,000 hostile inputs for every parser soket owns; every
 * one must give a value or the parser's typed error. bench/fuzz.bench.ts runs 100,000 of each.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FUZZ_TARGETS } from './helpers/fuzz-targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
// a fixed seed, so the suite is deterministic; FUZZ_SEED tries others
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_130);

describe(`fuzzing every parser (${RUNS} inputs each, seed ${SEED})`, () => {
  for (const target of FUZZ_TARGETS) {
    test(target.name, { timeout: 300_000 }, () => {
      const r = target.run(RUNS, SEED);
      assert.deepEqual(r.failures, [], `${r.failureCount} failures (FUZZ_SEED=${SEED} reproduces them)`);
      assert.equal(r.accepted + r.rejected, RUNS);
      assert.ok(r.accepted > 0, 'some inputs are valid: the generators come near the grammar');
    });
  }
});
