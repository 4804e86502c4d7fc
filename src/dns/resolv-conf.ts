/**
 * The system's resolver configuration, resolv.conf(5): name servers, the search list and the options that
 * shape a lookup (`ndots`, `timeout`, `attempts`), and the list of names a search tries, as the stub resolver
 * (and `dig +search`) builds it.
 *
 * @module
 */
import { isIP } from 'node:net';
import { toSoketError, ValidationError } from '../core/errors.js';
import { readInputFile } from '../core/input-file.js';
import { checkString } from '../core/validate.js';

/** The largest resolv.conf read (glibc reads far less: 3 servers, 6 search domains). */
const RESOLV_CONF_MAX_BYTES = 1024 * 1024;

/** The default file. */
export const RESOLV_CONF = '/etc/resolv.conf';

/** What resolv.conf says. */
export interface ResolvConf {
  /** Name server addresses, in order (at most 3 are used by glibc; all are kept here). */
  nameservers: string[];
  /** The search list (`search`, or the one `domain`; the last such line wins). */
  search: string[];
  /** Names with at least this many dots are tried as given first. @default 1 */
  ndots: number;
  /** Seconds per try. @default 5 */
  timeout: number;
  /** Tries per server. @default 2 */
  attempts: number;
}

/** resolv.conf(5)'s defaults; without a `nameserver` line the local host is asked. */
export const RESOLV_CONF_DEFAULTS = { nameserver: '127.0.0.1', ndots: 1, timeout: 5, attempts: 2 } as const;

/**
 * Parse resolv.conf text. Unknown lines and malformed options are ignored, as the C library does.
 *
 * @param text - the file's contents
 * @returns its name servers, search list and options (defaults where absent)
 * @throws {ValidationError} when `text` is not a string
 * @example
 * ```ts
 * parseResolvConf('nameserver 127.0.0.1\nsearch example.test\noptions ndots:2').ndots; // 2
 * ```
 */
export function parseResolvConf(text: string): ResolvConf {
  checkString(text, 'resolv.conf text');
  const out: ResolvConf = {
    nameservers: [],
    search: [],
    ndots: RESOLV_CONF_DEFAULTS.ndots,
    timeout: RESOLV_CONF_DEFAULTS.timeout,
    attempts: RESOLV_CONF_DEFAULTS.attempts,
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*/, '').trim();
    const [key, ...args] = line.split(/\s+/);
    if (key === 'nameserver' && args[0] !== undefined) {
      const address = args[0];
      if (isIP(address.split('%')[0] ?? '') !== 0) out.nameservers.push(address);
    } else if (key === 'search') {
      out.search = args.filter((a) => a.length > 0 && a !== '.');
    } else if (key === 'domain' && args[0] !== undefined) {
      out.search = args[0] === '.' ? [] : [args[0]];
    } else if (key === 'options') {
      for (const opt of args) {
        const m = /^(ndots|timeout|attempts):(\d+)$/.exec(opt);
        if (!m) continue;
        const n = Number(m[2]);
        if (m[1] === 'ndots') out.ndots = Math.min(n, 15);
        else if (m[1] === 'timeout') out.timeout = Math.max(1, Math.min(n, 30));
        else out.attempts = Math.max(1, Math.min(n, 5));
      }
    }
  }
  return out;
}

/**
 * Read and parse a resolv.conf file. A missing file is the defaults (glibc asks 127.0.0.1).
 *
 * @param path - @default '/etc/resolv.conf'
 * @throws {ValidationError} when `path` is not a string
 * @throws {NetworkError} when the file exists but cannot be read
 * @example
 * ```ts
 * const conf = await readResolvConf();
 * conf.nameservers; // ['127.0.0.53']
 * ```
 */
export async function readResolvConf(path: string = RESOLV_CONF): Promise<ResolvConf> {
  checkString(path, 'resolv.conf path');
  let text = '';
  try {
    // Capped: a resolv.conf is a few hundred bytes; a device or a huge file is refused, not read whole.
    text = (
      await readInputFile(path, { maxBytes: RESOLV_CONF_MAX_BYTES, what: 'resolver configuration' })
    ).toString('utf8');
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    if ((err as { code?: string }).code !== 'ENOENT') throw toSoketError(err, `Cannot read ${path}`);
  }
  return parseResolvConf(text);
}

/**
 * The names a search tries for `name`, in order (resolv.conf(5)): a name ending in a dot only as given; a
 * name with at least `ndots` dots as given first, then with each search domain; a shorter one with each
 * search domain first, then as given.
 *
 * @param name - the name as the user gave it
 * @param conf - the search list and ndots
 * @returns absolute names (ending in a dot), without duplicates
 * @example
 * ```ts
 * searchNames('www', { search: ['example.test'], ndots: 1 }); // ['www.example.test.', 'www.']
 * ```
 */
export function searchNames(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>): string[] {
  if (name.endsWith('.') && !name.endsWith('\\.')) return [name];
  const dots = (name.match(/(?<!\\)\./g) ?? []).length;
  const asGiven = `${name}.`;
  const withSearch = conf.search.map((d) => `${name}.${d.replace(/\.$/, '')}.`);
  const list = dots >= conf.ndots ? [asGiven, ...withSearch] : [...withSearch, asGiven];
  return [...new Set(list)];
}
