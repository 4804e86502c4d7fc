/**
 * The `/etc/services` text format (services(5)), parsed and written back. Pure: text in, records out.
 *
 * Each line is `name port/protocol [aliases...] [# comment]`. Blank lines, comments and malformed lines are
 * skipped (and reported), never thrown on.
 *
 * @module
 */

/** One line of a services database. */
export interface ServiceRecord {
  /** Official service name, e.g. `http`. */
  name: string;
  /** Port number, 0–65535. */
  port: number;
  /** Protocol name as written, lower-cased, e.g. `tcp`. */
  protocol: string;
  /** Alternative names, e.g. `['www']`. */
  aliases: string[];
}

/** A line that could not be parsed. */
export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  /** Why it was skipped. */
  reason: string;
}

/** What {@link parseServices} returns. */
export interface ParsedServices {
  /** Records in file order. */
  records: ServiceRecord[];
  /** Malformed lines (blank and comment lines are not listed). */
  skipped: SkippedLine[];
}

/** Limits that keep a hostile file from using unbounded memory. */
export const SERVICES_LIMITS = {
  /** Longest line considered; longer lines are skipped. */
  maxLineLength: 4096,
  /** Most aliases kept per line (glibc keeps any number; 35 is its historical MAXALIASES). */
  maxAliases: 64,
} as const;

const PORT_PROTO = /^(\d{1,5})\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/;

/**
 * Parse the text of a services database.
 *
 * @param text - file contents
 * @returns records in file order and the malformed lines that were skipped
 * @example
 * ```ts
 * parseServices('http 80/tcp www # web\n').records;
 * // [{ name: 'http', port: 80, protocol: 'tcp', aliases: ['www'] }]
 * ```
 */
export function parseServices(text: string): ParsedServices {
  const records: ServiceRecord[] = [];
  const skipped: SkippedLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    if (raw.length > SERVICES_LIMITS.maxLineLength) {
      skipped.push({ line: i + 1, reason: `line longer than ${SERVICES_LIMITS.maxLineLength} characters` });
      continue;
    }
    const hash = raw.indexOf('#');
    const body = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (body.length === 0) continue;
    const fields = body.split(/[ \t\r\f\v]+/);
    const name = fields[0] as string;
    const portProto = fields[1];
    if (portProto === undefined) {
      skipped.push({ line: i + 1, reason: 'missing port/protocol' });
      continue;
    }
    const m = PORT_PROTO.exec(portProto);
    const port = m ? Number(m[1]) : Number.NaN;
    if (!m || port < 1 || port > 65535) {
      skipped.push({ line: i + 1, reason: `bad port/protocol '${portProto}'` });
      continue;
    }
    records.push({
      name,
      port,
      protocol: (m[2] as string).toLowerCase(),
      aliases: fields.slice(2, 2 + SERVICES_LIMITS.maxAliases),
    });
  }
  return { records, skipped };
}

/**
 * Write records back in the services(5) format, one per line.
 *
 * @param records - records to write
 * @returns text that {@link parseServices} reads back to the same records
 * @example
 * ```ts
 * formatServices([{ name: 'http', port: 80, protocol: 'tcp', aliases: ['www'] }]); // 'http\t80/tcp\twww\n'
 * ```
 */
export function formatServices(records: readonly ServiceRecord[]): string {
  return (
    records.map((r) => [r.name, `${r.port}/${r.protocol}`, ...r.aliases].join('\t')).join('\n') +
    (records.length ? '\n' : '')
  );
}
