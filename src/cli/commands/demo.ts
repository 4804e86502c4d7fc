// contract: v2 (issue 10: a stream of `section` events and a `summary`; main.ts renders them)
/**
 * `soket demo`: every capability, offline, against soket's own servers on loopback, in a few seconds.
 *
 * @module
 */
import type { Command } from 'commander';
import { toSoketError, ValidationError } from '../../core/errors.js';
import { escapeControl } from '../../core/text.js';
import { EXIT, examples, type RenderContext, type Runner, stream } from '../command.js';
import { DEMO_SECTIONS, type DemoContext, type DemoSection } from '../demo-sections.js';
import { formatMs } from '../format.js';
import type { Colors, Io } from '../io.js';

interface DemoFlags {
  only?: string;
}

/** The events of `soket demo`. */
export type DemoEvent =
  | {
      event: 'section';
      section: string;
      title: string;
      socketLevel: string;
      number: number;
      ok: boolean;
      elapsedMs: number;
      result?: Record<string, unknown>;
      error?: { code: string; message: string };
      /** The section's text (not in JSON). */
      lines?: (color: Colors) => string[];
    }
  | { event: 'summary'; sections: number; ok: number; failed: number; elapsedMs: number };

function text(e: DemoEvent, ctx: RenderContext): string {
  const c = ctx.color;
  if (e.event === 'summary') {
    return `\n${c.dim(`${e.ok}/${e.sections} sections ok in ${formatMs(e.elapsedMs)}; every server the demo started is closed`)}`;
  }
  const out = [
    `${e.number > 1 ? '\n' : ''}${c.bold(c.cyan(`== ${e.number}. ${e.title}`))}`,
    c.dim(`   ${e.socketLevel}`),
  ];
  if (e.ok && e.lines) {
    for (const block of e.lines(c)) for (const line of block.split('\n')) out.push(`   ${line}`);
  } else if (e.error) {
    out.push(`   ${c.red(`failed: ${escapeControl(e.error.message)}`)}`);
  }
  return out.join('\n');
}

/** Run cleanups newest first; one that fails (a server already closed) does not stop the others. */
async function closeAll(cleanups: Array<() => unknown>): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch {
      // already closed
    }
  }
}

async function* run(
  io: Io,
  sections: readonly DemoSection[],
  tally: { failed: number },
): AsyncGenerator<DemoEvent> {
  const cleanups: Array<() => unknown> = [];
  const ctx: DemoContext = { signal: io.signal, defer: (c) => cleanups.push(c), ports: {} };
  const started = performance.now();
  let ran = 0;
  try {
    for (const [i, section] of sections.entries()) {
      if (io.signal.aborted) break;
      const t0 = performance.now();
      const head = {
        event: 'section' as const,
        section: section.id,
        title: section.title,
        socketLevel: section.socketLevel,
        number: i + 1,
      };
      // What the section starts is its own until it succeeds: a failed section is cleaned up at once, so
      // that its sockets (a server holding half-open clients after EMFILE) cannot starve the next sections.
      const own: Array<() => unknown> = [];
      const sectionCtx: DemoContext = { signal: ctx.signal, ports: ctx.ports, defer: (c) => own.push(c) };
      try {
        const out = await section.run(sectionCtx);
        cleanups.push(...own);
        ran++;
        const elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
        yield { ...head, ok: true, elapsedMs, result: out.result, lines: out.lines };
      } catch (err) {
        await closeAll(own);
        if (io.signal.aborted) throw err;
        ran++;
        tally.failed++;
        const elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
        yield { ...head, ok: false, elapsedMs, error: toSoketError(err).toJSON() };
      }
    }
  } finally {
    // Close everything the sections started, newest first, even when interrupted.
    await closeAll(cleanups);
  }
  yield {
    event: 'summary',
    sections: ran,
    ok: ran - tally.failed,
    failed: tally.failed,
    elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
  };
}

export function register(program: Command, runner: Runner): void {
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
--json prints one JSON object per line: one per section, {event: "section", section, title, socketLevel,
number, ok, elapsedMs, result} or {..., ok: false, error: {code, message}}, then {event: "summary", sections,
ok, failed, elapsedMs}. Exit code 1 if any section failed.
${examples(['soket demo', 'soket demo --only tcp,udp', 'soket demo --json | jq -c .result'])}`,
    )
    .action(
      runner(async (io, flags: DemoFlags) => {
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
        const tally = { failed: 0 };
        return stream(run(io, sections, tally), text, {
          exitCode: () => (tally.failed ? EXIT.failed : EXIT.ok),
          json: (e) => {
            if (e.event === 'summary') return e;
            const { lines: _lines, ...rest } = e;
            return rest;
          },
        });
      }),
    );
}
