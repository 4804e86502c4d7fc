// contract: v2 (issue 10: returns a result)
/**
 * `soket service`: service name ↔ port, like getservbyname(3)/getservbyport(3) and `getent services`.
 *
 * @module
 */
import type { Command } from 'commander';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { escapeControl } from '../../core/text.js';
import { parsePort } from '../../core/validate.js';
import {
  EMBEDDED_SOURCE,
  findServices,
  listServices,
  loadServicesAsync,
  type ServiceEntry,
  type ServicesOptions,
} from '../../dns/services.js';
import { EXIT, examples, type RenderContext, type Runner, result } from '../command.js';
import { table } from '../format.js';

interface ServiceOpts {
  list?: boolean;
  search?: string;
  protocol?: string;
  port?: string;
  file?: string;
  embedded?: boolean;
}

function rows(entries: ServiceEntry[], ctx: RenderContext): string[][] {
  return entries.map((e) => [
    ctx.color.bold(escapeControl(e.name)),
    `${e.port}/${e.protocol}`,
    e.aliases.length ? `aliases: ${escapeControl(e.aliases.join(' '))}` : '',
  ]);
}

interface Source {
  source: string;
  fallbackReason?: string;
}

function sourceLine(db: Source, ctx: RenderContext): string {
  const src = db.source === EMBEDDED_SOURCE ? 'embedded table' : db.source;
  return ctx.color.dim(
    escapeControl(`source: ${src}${db.fallbackReason ? ` (fallback: ${db.fallbackReason})` : ''}`),
  );
}

/** `--list`: the matching services. */
interface ListResult extends Source {
  count: number;
  services: ServiceEntry[];
}

type QueryOutcome = { query: string; services: ServiceEntry[] } | { query: string; error: NotFoundError };

/** Lookups: one or more queries, each with its services or its error. */
interface LookupResult extends Source {
  results: QueryOutcome[];
}

function renderList(r: ListResult, ctx: RenderContext): string {
  const lines: string[] = [];
  if (r.services.length) lines.push(table(rows(r.services, ctx)));
  lines.push(sourceLine(r, ctx) + ctx.color.dim(`, ${r.services.length} entries`));
  return lines.join('\n');
}

function renderLookup(r: LookupResult, ctx: RenderContext): { out: string; err?: string } {
  const lines: string[][] = [];
  const errors: string[] = [];
  for (const q of r.results) {
    if ('error' in q) errors.push(`soket: ${escapeControl(q.error.message)}`);
    else lines.push(...rows(q.services, ctx));
  }
  const out = [lines.length ? table(lines) : '', sourceLine(r, ctx)].filter(Boolean).join('\n');
  return errors.length ? { out, err: errors.join('\n') } : { out };
}

function lookupJson(r: LookupResult): unknown {
  const source = { source: r.source, ...(r.fallbackReason ? { fallbackReason: r.fallbackReason } : {}) };
  const out = r.results.map((q) =>
    'error' in q ? { query: q.query, error: q.error.toJSON() } : { query: q.query, services: q.services },
  );
  return out.length === 1 ? { ...source, ...out[0] } : { ...source, results: out };
}

export function register(program: Command, run: Runner): void {
  program
    .command('service')
    .description('look up a service by name or port (getservbyname/getservbyport), or list services')
    .argument('[query...]', 'a name (http), a port (25), or either with a protocol (53/udp, domain/udp)')
    .option('-l, --list', 'list services (with --search and --protocol to filter)')
    .option('-s, --search <text>', 'with --list: names or aliases containing TEXT, or a port number')
    .option('-p, --protocol <proto>', 'only this protocol (tcp, udp, sctp, ...)')
    .option('--port <port>', 'look up this port (same as a numeric query)')
    .option('-f, --file <path>', 'read this services(5) file instead of /etc/services')
    .option('--embedded', 'use the embedded table instead of /etc/services')
    .addHelpText(
      'after',
      `
Without a protocol, every protocol that matches is shown. When /etc/services is missing or unreadable the
embedded table (Debian netbase naming) is used; every answer names its source.
${examples([
  'soket service http',
  'soket service 25',
  'soket service 53/udp',
  'soket service domain/udp',
  'soket service --list --search http --protocol tcp',
  'soket service smtp --json',
])}`,
    )
    .action(
      run(async (io, queries: string[], opts: ServiceOpts) => {
        const dbOptions: ServicesOptions = {};
        if (opts.file !== undefined) dbOptions.path = opts.file;
        if (opts.embedded) dbOptions.embedded = true;
        if (opts.file !== undefined && opts.embedded) {
          throw new ValidationError('Options --file and --embedded cannot be used together');
        }
        // read as a stream with a size cap (a services file over 4 MiB is exit 2), stopped by Ctrl-C
        const db = await loadServicesAsync({ ...dbOptions, signal: io.signal });
        const source: Source = {
          source: db.source,
          ...(db.fallbackReason ? { fallbackReason: db.fallbackReason } : {}),
        };

        if (opts.list) {
          if (queries.length > 0 || opts.port !== undefined) {
            throw new ValidationError('Give either --list or a query, not both');
          }
          const filter: { search?: string; protocol?: string } = {};
          if (opts.search !== undefined) filter.search = opts.search;
          if (opts.protocol !== undefined) filter.protocol = opts.protocol;
          const services = listServices(filter, dbOptions);
          return result({ ...source, count: services.length, services }, renderList, {
            exitCode: services.length ? EXIT.ok : EXIT.failed,
          });
        }
        if (opts.search !== undefined) throw new ValidationError('Option --search needs --list');

        const asked = [...queries];
        if (opts.port !== undefined) asked.push(String(parsePort(opts.port)));
        if (asked.length === 0)
          throw new ValidationError('Give a service name or port, or --list (see --help)');
        const proto = opts.protocol;
        // Validate every query before looking anything up, so bad input is exit 2 even among good queries.
        const full = asked.map((q) => {
          if (proto === undefined || q.includes('/')) return q;
          return `${q}/${proto}`;
        });
        const results: QueryOutcome[] = [];
        for (const q of full) {
          try {
            results.push({ query: q, services: findServices(q, dbOptions) });
          } catch (err) {
            if (!(err instanceof NotFoundError) || full.length === 1) throw err;
            results.push({ query: q, error: err });
          }
        }
        const failed = results.some((r) => 'error' in r);
        return result({ ...source, results }, renderLookup, {
          exitCode: failed ? EXIT.failed : EXIT.ok,
          json: lookupJson,
        });
      }),
    );
}
