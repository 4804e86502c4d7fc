/**
 * Observability without printing: `NODE_DEBUG=soket` prints debug lines (via `util.debuglog`), and every
 * event is also published on the `node:diagnostics_channel` named `soket:<topic>` so the CLI (`-v`) or an
 * application can subscribe.
 *
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import { ValidationError } from './errors.js';

const log = debuglog('soket');

/** An event published on a soket diagnostics channel. */
export interface SoketEvent {
  /** Topic, e.g. `tcp`, `dns`, `ntp`. */
  topic: string;
  /** Human-readable summary. */
  message: string;
  /** Structured details. */
  data?: Record<string, unknown>;
}

/** Name of the diagnostics channel carrying every soket event. */
export const SOKET_CHANNEL = 'soket';

const channel = diagnosticsChannel.channel(SOKET_CHANNEL);

/**
 * Publish a debug event: to `NODE_DEBUG=soket` and to the `soket` diagnostics channel.
 *
 * @param topic - short area name (`tcp`, `dns`, ...)
 * @param message - what happened
 * @param data - structured details
 * @example
 * ```ts
 * debug('tcp', 'connection closed', { peer: '127.0.0.1:5000', bytesIn: 10 });
 * ```
 */
export function debug(topic: string, message: string, data?: Record<string, unknown>): void {
  if (channel.hasSubscribers)
    channel.publish(data === undefined ? { topic, message } : { topic, message, data });
  if (log.enabled) log('%s: %s%s', topic, message, data === undefined ? '' : ` ${JSON.stringify(data)}`);
}

/**
 * Subscribe to every soket debug event; returns a function that unsubscribes.
 *
 * @example
 * ```ts
 * const stop = onDebug((e) => console.error(e.topic, e.message));
 * stop();
 * ```
 */
export function onDebug(listener: (event: SoketEvent) => void): () => void {
  if (typeof listener !== 'function') {
    throw new ValidationError(`Invalid debug listener '${String(listener)}': expected a function`);
  }
  const fn = (message: unknown) => listener(message as SoketEvent);
  diagnosticsChannel.subscribe(SOKET_CHANNEL, fn);
  return () => {
    diagnosticsChannel.unsubscribe(SOKET_CHANNEL, fn);
  };
}
