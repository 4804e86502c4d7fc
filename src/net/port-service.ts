/**
 * The service usually found on a port, for probe output: `22/tcp ssh`, `53/udp domain`.
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';
import { describeValue, parsePort } from '../core/validate.js';
import { getServiceByPort } from '../dns/services.js';

/**
 * The service name of a port in soket's services database (`/etc/services`, or the embedded copy), or `null`
 * when the port has none for that protocol.
 *
 * @param port - the port
 * @param protocol - `tcp` or `udp`
 * @returns `ssh`, `domain`, ... or `null`
 * @example
 * ```ts
 * portService(22, 'tcp'); // 'ssh'
 * portService(123, 'udp'); // 'ntp'
 * ```
 */
export function portService(port: number, protocol: 'tcp' | 'udp'): string | null {
  parsePort(port);
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new ValidationError(`Invalid protocol '${describeValue(protocol)}': expected tcp or udp`);
  }
  try {
    return getServiceByPort(port, protocol).name;
  } catch {
    return null;
  }
}
