/**
 * The generic datagram handlers the UDP engine runs by name in its workers: echo (send each datagram back),
 * reply (answer each with fixed bytes), forward (hand each to the main thread, answer nothing) and discard.
 * Each export is a {@link DatagramHandlerFactory}; name them in a {@link DatagramHandlerSpec} with
 * {@link builtinHandler}.
 *
 * @module
 */
import type { DatagramHandlerFactory, DatagramHandlerSpec } from './datagram-handler.js';
import { workerModuleUrl } from './udp-engine-shared.js';

/** Config of {@link reply}. */
export interface ReplyConfig {
  /** The answer, as bytes or UTF-8 text. */
  reply: Uint8Array | string;
}

/** Config of {@link forward}. */
export interface ForwardConfig {
  /** Also send the datagram back (echo and forward). @default false */
  echo?: boolean;
}

/**
 * Echo: each datagram goes back to its sender, unchanged (sent from the receive buffer, no copy).
 *
 * @example
 * ```ts
 * await createUdpEngine({ port: 0 }, builtinHandler('echo'));
 * ```
 */
export const echo: DatagramHandlerFactory<unknown> = () => (request) => request;

/**
 * Reply: each datagram is answered with the same bytes.
 *
 * @example
 * ```ts
 * await createUdpEngine({ port: 0 }, builtinHandler('reply', { reply: 'message received' }));
 * ```
 */
export const reply: DatagramHandlerFactory<ReplyConfig> = (config) => {
  const bytes = typeof config.reply === 'string' ? new TextEncoder().encode(config.reply) : config.reply;
  return () => bytes;
};

/**
 * Forward: each datagram is handed to the main thread (the engine's `message` event); nothing is sent back
 * unless `echo` is set.
 *
 * @example
 * ```ts
 * const engine = await createUdpEngine({ port: 0 }, builtinHandler('forward'));
 * engine.on('message', (m) => console.log(m.peer, m.data.length));
 * ```
 */
export const forward: DatagramHandlerFactory<ForwardConfig | undefined> = (config, context) => {
  const back = config?.echo === true;
  return (request, peer, received) => {
    context.forward(request, peer, received);
    return back ? request : undefined;
  };
};

/**
 * Discard: count and drop.
 *
 * @example
 * ```ts
 * await createUdpEngine({ port: 0 }, builtinHandler('discard'));
 * ```
 */
export const discard: DatagramHandlerFactory<unknown> = () => () => undefined;

/** The built-in handlers and their configs. */
export interface BuiltinHandlers {
  echo: undefined;
  reply: ReplyConfig;
  forward: ForwardConfig | undefined;
  discard: undefined;
}

/**
 * A handler spec for one of the built-in handlers.
 *
 * @param name - `echo`, `reply`, `forward` or `discard`
 * @param config - its config
 * @example
 * ```ts
 * builtinHandler('reply', { reply: 'pong' });
 * ```
 */
export function builtinHandler<K extends keyof BuiltinHandlers>(
  name: K,
  ...config: undefined extends BuiltinHandlers[K] ? [] | [BuiltinHandlers[K]] : [BuiltinHandlers[K]]
): DatagramHandlerSpec<BuiltinHandlers[K]> {
  const spec: DatagramHandlerSpec<BuiltinHandlers[K]> = {
    module: workerModuleUrl('platform/datagram-handlers'),
    export: name,
  };
  if (config[0] !== undefined) spec.config = config[0];
  return spec;
}
