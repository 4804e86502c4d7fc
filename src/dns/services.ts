/**
 * Service name ↔ port lookups, the equivalents of getservbyname(3) and getservbyport(3), for tcp, udp, sctp
 * and any protocol in the database. The database is `/etc/services`, parsed once on first use; when that
 * file is missing or unreadable an embedded copy of Debian's table is used instead. Every answer says which
 * source it came from.
 *
 * @module
 */
import { parseServices, type ServiceRecord } from '../codec/services.js';
import { abortError } from '../core/deadline.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { InputTooLargeError, readInputFile, readInputFileSync } from '../core/input-file.js';
import { checkOptionsObject, checkString, parsePort } from '../core/validate.js';
import { EMBEDDED_SERVICES } from './services-data.js';

/** The system services database. */
export const SYSTEM_SERVICES_PATH = '/etc/services';

/** The `source` value of answers from the embedded table. */
export const EMBEDDED_SOURCE = 'embedded';

/** A service entry with the database it came from. */
export interface ServiceEntry extends ServiceRecord {
  /** File path the entry was read from, or `embedded`. */
  source: string;
}

/** Where to look services up. */
export interface ServicesOptions {
  /**
   * A services(5) file to read instead of `/etc/services`.
   * @default '/etc/services'
   */
  path?: string;
  /**
   * Use the embedded table when the file is missing or unreadable. Defaults to `true` for the system file
   * and `false` for a `path` the caller chose (asking for a file that is not there is an error).
   */
  fallback?: boolean;
  /** Use only the embedded table. @default false */
  embedded?: boolean;
}

/** A loaded database. */
export interface ServicesDatabase {
  /** File path, or `embedded`. */
  source: string;
  /** Why the embedded table is in use instead of the file, when it is. */
  fallbackReason?: string;
  /** Every entry in file order. */
  entries: readonly ServiceEntry[];
  /** Protocols present in the database, in order of first appearance. */
  protocols: readonly string[];
  /** Number of malformed lines skipped while parsing. */
  skippedLines: number;
  /** `name/protocol` (official names and aliases) → first entry, as getservbyname returns. */
  byName: ReadonlyMap<string, ServiceEntry>;
  /** `port/protocol` → first entry, as getservbyport returns. */
  byPort: ReadonlyMap<string, ServiceEntry>;
}

/**
 * The largest services file soket reads: 4 MiB. Debian's /etc/services is about 13 kB, and the whole IANA port
 * registry written in services(5) form (every name on tcp, udp, sctp and dccp) is under 1 MiB, so a larger
 * file is not a services database (`/dev/zero`, a log, a disk image) and is refused instead of read whole.
 */
export const SERVICES_MAX_BYTES = 4 * 1024 * 1024;

/** Options of {@link loadServicesAsync}. */
export interface LoadServicesOptions extends ServicesOptions {
  /** Stops reading the file (`AbortError`). */
  signal?: AbortSignal;
}

/** Protocols always accepted in queries, even when the database has no entry for them. */
const WELL_KNOWN_PROTOCOLS = ['tcp', 'udp', 'sctp', 'dccp'];

const cache = new Map<string, ServicesDatabase>();

function build(text: string, source: string, fallbackReason?: string): ServicesDatabase {
  const { records, skipped } = parseServices(text);
  const entries: ServiceEntry[] = records.map((r) => ({ ...r, source }));
  const byName = new Map<string, ServiceEntry>();
  const byPort = new Map<string, ServiceEntry>();
  const protocols: string[] = [];
  for (const e of entries) {
    if (!protocols.includes(e.protocol)) protocols.push(e.protocol);
    for (const n of [e.name, ...e.aliases]) {
      const key = `${n}/${e.protocol}`;
      if (!byName.has(key)) byName.set(key, e);
    }
    const pk = `${e.port}/${e.protocol}`;
    if (!byPort.has(pk)) byPort.set(pk, e);
  }
  const db: ServicesDatabase = { source, entries, protocols, skippedLines: skipped.length, byName, byPort };
  if (fallbackReason !== undefined) db.fallbackReason = fallbackReason;
  return db;
}

/** Read by a file that is too large: refused whatever the fallback setting. */
class TooLarge extends Error {}

function tooLarge(path: string): ValidationError {
  return new ValidationError(
    `Services file '${path}' is larger than ${SERVICES_MAX_BYTES / 1024 / 1024} MiB: not a services database`,
  );
}

/** Read at most SERVICES_MAX_BYTES synchronously: a device or a huge file cannot make it grow. */
function readText(path: string): string {
  try {
    return readInputFileSync(path, { maxBytes: SERVICES_MAX_BYTES, what: 'services file' }).toString('utf8');
  } catch (err) {
    if (err instanceof InputTooLargeError) throw new TooLarge();
    throw err;
  }
}

/** The same, as a stream: never blocks the event loop, a FIFO included; stops when `signal` fires. */
async function readTextAsync(path: string, signal: AbortSignal | undefined): Promise<string> {
  try {
    const bytes = await readInputFile(path, { maxBytes: SERVICES_MAX_BYTES, signal, what: 'services file' });
    return bytes.toString('utf8');
  } catch (err) {
    if (err instanceof InputTooLargeError) throw new TooLarge();
    throw err;
  }
}

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory';
  return e.code ?? e.message ?? String(err);
}

/**
 * Load (once, then cached) the services database.
 *
 * @param options - `path`, `fallback`, `embedded`
 * @returns the database with its source and, when the embedded table stands in, the reason
 * @throws {ValidationError} when a `path` the caller chose cannot be read and `fallback` is off
 * @example
 * ```ts
 * const db = loadServices();
 * console.log(db.source, db.entries.length);
 * ```
 */
export function loadServices(options: ServicesOptions = {}): ServicesDatabase {
  const { key, path, fallback } = locate(options);
  if (key === EMBEDDED_SOURCE) return cached(key, () => build(EMBEDDED_SERVICES, EMBEDDED_SOURCE));
  return cached(key, () => {
    try {
      return build(readText(path), path);
    } catch (err) {
      return onReadError(err, path, fallback);
    }
  });
}

/**
 * Load the services database like {@link loadServices}, reading the file as a stream: the event loop stays
 * free and `signal` stops the read. The result is cached for the synchronous lookups that follow.
 *
 * @param options - `path`, `fallback`, `embedded`, `signal`
 * @returns the database with its source and, when the embedded table stands in, the reason
 * @throws {ValidationError} when the file is larger than {@link SERVICES_MAX_BYTES}, or when a `path` the
 *   caller chose cannot be read and `fallback` is off
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * const db = await loadServicesAsync({ path: './services', signal: AbortSignal.timeout(5000) });
 * getServiceByName('http', 'tcp', { path: './services' }); // from the cache, no second read
 * ```
 */
export async function loadServicesAsync(options: LoadServicesOptions = {}): Promise<ServicesDatabase> {
  checkServicesOptions(options);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ValidationError(`Invalid signal '${String(signal)}': expected an AbortSignal`);
  }
  if (signal?.aborted) throw abortError(signal, 'Reading the services file');
  const { key, path, fallback } = locate(options);
  if (key === EMBEDDED_SOURCE) return loadServices(options);
  const hit = cache.get(key);
  if (hit) return hit;
  let db: ServicesDatabase;
  try {
    db = build(await readTextAsync(path, signal), path);
  } catch (err) {
    if (signal?.aborted) throw abortError(signal, `Reading services file '${path}'`);
    db = onReadError(err, path, fallback);
  }
  cache.set(key, db);
  return db;
}

/** The cache key, path and fallback setting of a set of options. */
function locate(options: ServicesOptions): { key: string; path: string; fallback: boolean } {
  checkServicesOptions(options);
  if (options.embedded) return { key: EMBEDDED_SOURCE, path: EMBEDDED_SOURCE, fallback: false };
  const path = options.path ?? SYSTEM_SERVICES_PATH;
  const fallback = options.fallback ?? options.path === undefined;
  return { key: `${path}\0${fallback}`, path, fallback };
}

function onReadError(err: unknown, path: string, fallback: boolean): ServicesDatabase {
  if (err instanceof TooLarge) throw tooLarge(path);
  if (!fallback)
    throw new ValidationError(`Cannot read services file '${path}': ${reasonOf(err)}`, { cause: err });
  return build(EMBEDDED_SERVICES, EMBEDDED_SOURCE, `${path}: ${reasonOf(err)}`);
}

/** Options from plain JavaScript: an object whose fields have the documented types. */
function checkServicesOptions(options: unknown): asserts options is ServicesOptions {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError(`Invalid services options '${String(options)}': expected an object`);
  }
  const o = options as Record<string, unknown>;
  if (o.path !== undefined && (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\0'))) {
    throw new ValidationError(`Invalid services file path '${String(o.path)}': expected a file path`);
  }
  for (const flag of ['fallback', 'embedded'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') {
      throw new ValidationError(
        `Invalid services option ${flag} '${String(o[flag])}': expected true or false`,
      );
    }
  }
}

function cached(key: string, make: () => ServicesDatabase): ServicesDatabase {
  let db = cache.get(key);
  if (!db) {
    db = make();
    cache.set(key, db);
  }
  return db;
}

/**
 * Forget loaded databases so the next lookup reads the file again.
 *
 * @example
 * ```ts
 * clearServicesCache();
 * ```
 */
export function clearServicesCache(): void {
  cache.clear();
}

function where(db: ServicesDatabase): string {
  return db.source === EMBEDDED_SOURCE ? 'the embedded services table' : db.source;
}

/**
 * Check a protocol name against the database; well-known protocols (tcp, udp, sctp, dccp) are always valid.
 *
 * @returns the protocol, lower-cased
 * @throws {ValidationError} for an empty or unknown protocol
 * @example
 * ```ts
 * checkProtocol('TCP'); // 'tcp'
 * ```
 */
export function checkProtocol(protocol: string, options: ServicesOptions = {}): string {
  const p = checkString(protocol, 'protocol').trim().toLowerCase();
  const db = loadServices(options);
  const known = [...new Set([...WELL_KNOWN_PROTOCOLS, ...db.protocols])];
  if (p.length === 0) throw new ValidationError('Invalid protocol: must not be empty');
  if (!known.includes(p)) {
    throw new ValidationError(`Unknown protocol '${protocol}': expected one of ${known.join(', ')}`);
  }
  return p;
}

/**
 * Check a service name: not empty, no whitespace, no `/` or `#`.
 *
 * @throws {ValidationError} when malformed
 * @example
 * ```ts
 * checkServiceName('http'); // 'http'
 * ```
 */
export function checkServiceName(name: string): string {
  const n = checkString(name, 'service name').trim();
  if (n.length === 0) throw new ValidationError('Invalid service name: must not be empty');
  if (/[\s/#]/.test(n) || n.length > 256) {
    throw new ValidationError(`Invalid service name '${name}': must not contain spaces, '/' or '#'`);
  }
  return n;
}

/**
 * Find a service by name or alias, like getservbyname(3): the first matching entry in file order.
 *
 * @param name - official name or alias, e.g. `http` or `www`
 * @param protocol - `tcp`, `udp`, ...; without it, the first entry of any protocol
 * @param options - which database
 * @returns the entry, with `source`
 * @throws {NotFoundError} when nothing matches
 * @throws {ValidationError} for an empty name or unknown protocol
 * @example
 * ```ts
 * getServiceByName('http', 'tcp'); // { name: 'http', port: 80, protocol: 'tcp', aliases: ['www'], source: '/etc/services' }
 * ```
 */
export function getServiceByName(
  name: string,
  protocol?: string,
  options: ServicesOptions = {},
): ServiceEntry {
  const n = checkServiceName(name);
  const db = loadServices(options);
  if (protocol !== undefined) {
    const p = checkProtocol(protocol, options);
    const hit = db.byName.get(`${n}/${p}`);
    if (hit) return hit;
    throw new NotFoundError(`Service '${n}/${p}' not found in ${where(db)}`);
  }
  const hit = db.entries.find((e) => e.name === n || e.aliases.includes(n));
  if (hit) return hit;
  throw new NotFoundError(`Service '${n}' not found in ${where(db)}`);
}

/**
 * Find a service by port, like getservbyport(3): the first matching entry in file order.
 *
 * @param port - 1–65535
 * @param protocol - `tcp`, `udp`, ...; without it, the first entry of any protocol
 * @param options - which database
 * @returns the entry, with `source`
 * @throws {NotFoundError} when nothing matches
 * @throws {ValidationError} for a bad port or unknown protocol
 * @example
 * ```ts
 * getServiceByPort(25, 'tcp').name; // 'smtp'
 * ```
 */
export function getServiceByPort(
  port: number | string,
  protocol?: string,
  options: ServicesOptions = {},
): ServiceEntry {
  const p = parsePort(port);
  const db = loadServices(options);
  if (protocol !== undefined) {
    const proto = checkProtocol(protocol, options);
    const hit = db.byPort.get(`${p}/${proto}`);
    if (hit) return hit;
    throw new NotFoundError(`No service on port ${p}/${proto} in ${where(db)}`);
  }
  const hit = db.entries.find((e) => e.port === p);
  if (hit) return hit;
  throw new NotFoundError(`No service on port ${p} in ${where(db)}`);
}

/** What {@link listServices} filters on; every given field must match. */
export interface ServiceFilter {
  /** Case-insensitive substring of the name or an alias, or an exact port number. */
  search?: string;
  /** Only this protocol. */
  protocol?: string;
  /** Only this port. */
  port?: number;
  /** Only entries whose name or an alias equals this. */
  name?: string;
}

/**
 * List services, in file order, optionally filtered.
 *
 * @param filter - `search`, `protocol`, `port`, `name`
 * @param options - which database
 * @returns matching entries (possibly none)
 * @throws {ValidationError} for an unknown protocol or bad port
 * @example
 * ```ts
 * listServices({ search: 'http', protocol: 'tcp' }).map((e) => `${e.name} ${e.port}`);
 * ```
 */
export function listServices(filter: ServiceFilter = {}, options: ServicesOptions = {}): ServiceEntry[] {
  checkOptionsObject(filter, 'service filter');
  const db = loadServices(options);
  const protocol = filter.protocol === undefined ? undefined : checkProtocol(filter.protocol, options);
  const port = filter.port === undefined ? undefined : parsePort(filter.port);
  const name = filter.name === undefined ? undefined : checkServiceName(filter.name);
  const search =
    filter.search === undefined ? undefined : checkString(filter.search, 'search text').trim().toLowerCase();
  const searchPort = search !== undefined && /^\d+$/.test(search) ? Number(search) : undefined;
  return db.entries.filter((e) => {
    if (protocol !== undefined && e.protocol !== protocol) return false;
    if (port !== undefined && e.port !== port) return false;
    if (name !== undefined && e.name !== name && !e.aliases.includes(name)) return false;
    if (search !== undefined && search.length > 0) {
      if (searchPort !== undefined) return e.port === searchPort;
      return e.name.toLowerCase().includes(search) || e.aliases.some((a) => a.toLowerCase().includes(search));
    }
    return true;
  });
}

/** A parsed `soket service` query. */
export interface ServiceQuery {
  /** The service name, when the query is a name. */
  name?: string;
  /** The port, when the query is a number. */
  port?: number;
  /** The protocol after `/`, when given. */
  protocol?: string;
}

/**
 * Parse a query as the CLI takes it: `http`, `25`, `53/udp`, `domain/udp`.
 *
 * @throws {ValidationError} for an empty name, a bad port or an unknown protocol
 * @example
 * ```ts
 * parseServiceQuery('53/udp'); // { port: 53, protocol: 'udp' }
 * ```
 */
export function parseServiceQuery(query: string, options: ServicesOptions = {}): ServiceQuery {
  const q = checkString(query, 'service query').trim();
  const slash = q.lastIndexOf('/');
  const left = slash === -1 ? q : q.slice(0, slash);
  const out: ServiceQuery = {};
  if (slash !== -1) out.protocol = checkProtocol(q.slice(slash + 1), options);
  if (/^[+-]?\d+$/.test(left)) out.port = parsePort(left);
  else out.name = checkServiceName(left);
  return out;
}

/**
 * Every entry matching a query, one per protocol (the first in file order for each), as `soket service` shows.
 *
 * @param query - `http`, `25`, `53/udp`, `domain/udp`
 * @param options - which database
 * @returns matching entries, at least one
 * @throws {NotFoundError} when nothing matches, naming what was asked
 * @throws {ValidationError} for malformed queries
 * @example
 * ```ts
 * findServices('domain'); // [{ ...53/tcp }, { ...53/udp }]
 * ```
 */
export function findServices(query: string, options: ServicesOptions = {}): ServiceEntry[] {
  const q = parseServiceQuery(query, options);
  const db = loadServices(options);
  const protocols = q.protocol !== undefined ? [q.protocol] : db.protocols;
  const found: ServiceEntry[] = [];
  for (const p of protocols) {
    const hit = q.port !== undefined ? db.byPort.get(`${q.port}/${p}`) : db.byName.get(`${q.name}/${p}`);
    if (hit) found.push(hit);
  }
  if (found.length === 0) {
    const proto = q.protocol === undefined ? '' : `/${q.protocol}`;
    throw new NotFoundError(
      q.port !== undefined
        ? `No service on port ${q.port}${proto} in ${where(db)}`
        : `Service '${q.name}${proto}' not found in ${where(db)}`,
    );
  }
  return found;
}
