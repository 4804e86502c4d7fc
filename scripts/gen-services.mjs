// Regenerates src/dns/services-data.ts from a services(5) file (default /etc/services).
// Usage: node scripts/gen-services.mjs [/etc/services]
import { readFileSync, writeFileSync } from 'node:fs';

const source = process.argv[2] ?? '/etc/services';
const lines = readFileSync(source, 'utf8')
  .split('\n')
  .map((line) => {
    const hash = line.indexOf('#');
    return (hash < 0 ? line : line.slice(0, hash)).trim().split(/\s+/).join(' ');
  })
  .filter(Boolean);
const out = `/**
 * Embedded services table, used when /etc/services is missing or unreadable (minimal containers often lack it).
 * Generated from Debian netbase 6.4 /etc/services (IANA assignments with netbase naming: 80/tcp is \`http\`),
 * comments removed. Regenerate with \`node scripts/gen-services.mjs\` on a Debian machine.
 *
 * @module
 */

/** The table, in the services(5) text format. */
export const EMBEDDED_SERVICES = \`${lines.join('\n')}
\`;
`;
writeFileSync(new URL('../src/dns/services-data.ts', import.meta.url), out);
console.log(`wrote ${lines.length} entries from ${source}`);
