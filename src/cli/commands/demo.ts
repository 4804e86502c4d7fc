/**
 * `soket demo`: every capability, offline, against soket's own servers on loopback, in a few seconds.
 *
 * @module
 */
import type { Command } from 'commander';
import { type SoketError, toSoketError, ValidationError } from '../../core/errors.js';
import { EXIT, examples, type Runner } from '../command.js';
import { DEMO_SECTIONS, type DemoContext } from '../demo-sections.js';
import { formatMs } from '../format.js';

interface DemoFlags {
  only?: string;
}

export function register(program: Command, run: Runner): void {
  program
    .command('demo')
    .description("show every capability offline, against soket's own servers on loopback")
    .option(
      '--only <sections>',
      `run only these sections (comma-separated): ${DEMO_SECTIONS.map((s) => s.id).join(', ')}`,
    )
    .addHelpText(
      'after',
      `
Each section says in one line what happens at the socket level, then shows the result. Nothing leaves the
machine: every server the demo starts binds 127.0.0.1 on a free port and is closed at the end, also on Ctrl-C.
--json prints one JSON object per line, one per section: {section, title, socketLevel, ok, elapsedMs, result}
or {..., ok: false, error: {code, message}}. Exit code 1 if any section failed.
${examples(['soket demo', 'soket demo --only tcp,udp', 'soket demo --json | jq -c .result'])}`,
    )
    .action(
      run(async (io, flags: DemoFlags) => {
        const ids = DEMO_SECTIONS.map((s) => s.id);
        const only = flags.only
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const unknown = only?.filter((id) => !ids.includes(id)) ?? [];
        if (unknown.length || (only && only.length === 0)) {
          throw new ValidationError(
            `Unknown demo section '${unknown.join(',') || flags.only}': expected some of ${ids.join(', ')}`,
          );
        }
        const sections = DEMO_SECTIONS.filter((s) => !only || only.includes(s.id));
        const cleanups: Array<() => unknown> = [];
        const ctx: DemoContext = {
          signal: io.signal,
          defer: (c) => cleanups.push(c),
          ports: {},
          color: io.color,
        };
        const c = io.color;
        const started = performance.now();
        let failed = 0;
        try {
          for (const [i, section] of sections.entries()) {
            if (io.signal.aborted) break;
            if (!io.json) {
              io.out(`${i ? '\n' : ''}${c.bold(c.cyan(`== ${i + 1}. ${section.title}`))}`);
              io.out(c.dim(`   ${section.socketLevel}`));
            }
            const t0 = performance.now();
            try {
              const out = await section.run(ctx);
              const elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
              if (io.json) {
                io.out(
                  JSON.stringify({
                    section: section.id,
                    title: section.title,
                    socketLevel: section.socketLevel,
                    ok: true,
                    elapsedMs,
                    result: out.result,
                  }),
                );
              } else {
                for (const block of out.lines) for (const line of block.split('\n')) io.out(`   ${line}`);
              }
            } catch (err) {
              if (io.signal.aborted) throw err;
              failed++;
              const e: SoketError = toSoketError(err);
              const elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
              if (io.json) {
                io.out(
                  JSON.stringify({
                    section: section.id,
                    title: section.title,
                    socketLevel: section.socketLevel,
                    ok: false,
                    elapsedMs,
                    error: e.toJSON(),
                  }),
                );
              } else {
                io.out(`   ${c.red(`failed: ${e.message}`)}`);
              }
            }
          }
        } finally {
          // Close everything the sections started, newest first, even when interrupted.
          for (const cleanup of cleanups.reverse()) {
            try {
              await cleanup();
            } catch {
              // a server that is already closed
            }
          }
        }
        if (!io.json) {
          io.out(
            `\n${c.dim(`${sections.length - failed}/${sections.length} sections ok in ${formatMs(performance.now() - started)}; every server the demo started is closed`)}`,
          );
        }
        return failed ? EXIT.failed : EXIT.ok;
      }),
    );
}
