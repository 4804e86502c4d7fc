/**
 * The contract between the batched UDP engine (or its `dgram` fallback) and the code that answers
 * datagrams. A handler is a plain function: request bytes, the peer and the receive time in; reply bytes or
 * nothing out. Because the engine runs handlers in worker threads, a handler is named, not passed: a module
 * (file URL or path), the name of a factory it exports, and a config that survives `structuredClone`. Each
 * worker calls the factory once with the config and a {@link DatagramHandlerContext}.
 *
 * ```ts
 * // my-handler.ts
 * import type { DatagramHandlerFactory } from 'soket';
 * export const upper: DatagramHandlerFactory<{ suffix: string }> = (config) => (request) =>
 *   new TextEncoder().encode(new TextDecoder().decode(request).toUpperCase() + config.suffix);
 * // elsewhere
 * await createUdpEngine({ port: 0 }, { module: new URL('./my-handler.js', import.meta.url).href, export: 'upper', config: { suffix: '!' } });
 * ```
 *
 * Rules for handlers: the request bytes, the peer and the time are only valid during the call (the engine
 * reuses its buffers; copy what you keep). A reply may be the request itself or a part of it (then it is sent
 * without a copy), or any other bytes. A handler that throws has that one datagram dropped and counted.
 *
 * @module
 */
import type { PacketTime, RealtimeClock } from './realtime.js';

/** Where a datagram came from. */
export interface DatagramPeer {
  /** 4 or 6 (an IPv4-mapped peer on a dual-stack socket is 6, address `::ffff:a.b.c.d`). */
  readonly family: 4 | 6;
  /** The address as text, the way Node prints it. */
  readonly address: string;
  /** The source port. */
  readonly port: number;
}

/** When a datagram arrived: CLOCK_REALTIME, from the kernel when `kernel` is true. */
export interface ReceivedTime extends PacketTime {
  /** Whether the kernel stamped it on arrival (SO_TIMESTAMPNS / SIOCGSTAMPNS), not a read after the fact. */
  kernel: boolean;
}

/** Answer one datagram: reply bytes to send back to the peer, or nothing. */
export type DatagramHandler = (
  request: Uint8Array,
  peer: DatagramPeer,
  received: ReceivedTime,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that answers nothing may simply not return
) => Uint8Array | null | undefined | void;

/** Which path runs the handler. */
export type Datapath = 'batched' | 'dgram';

/** What a handler factory gets besides its config. */
export interface DatagramHandlerContext {
  /** Which worker this is (0-based), and how many there are. */
  readonly worker: number;
  readonly workers: number;
  /** `batched` (recvmmsg/sendmmsg in worker threads) or `dgram` (Node's sockets, the fallback). */
  readonly datapath: Datapath;
  /** The wall clock packets are stamped with (clock_gettime through FFI, else `performance`). */
  readonly clock: RealtimeClock;
  /**
   * Hand a copy of a datagram to the main thread (the engine's `message` event), batched and bounded: past
   * the bound it is dropped and counted (`forwardDropped`).
   *
   * @returns whether it was queued
   */
  forward(data: Uint8Array, peer: DatagramPeer, received?: PacketTime): boolean;
  /**
   * Ask for the NTP time (64 bits) to be written at `offset` of the reply the handler is about to return,
   * read from the clock as late as possible: just before the batch goes to sendmmsg (dgram: before the send).
   */
  stampTransmit(offset: number): void;
}

/** A handler with extras: counters merged across workers, and a close hook. */
export interface DatagramHandlerInstance {
  /** The handler. */
  handle: DatagramHandler;
  /**
   * Counters to publish (flat names, e.g. `dropped.malformed`); read after every batch and summed across
   * workers into the engine's `stats().handler`.
   */
  counters?: () => Record<string, number>;
  /**
   * Takes what the main thread sends with the engine's `broadcast()` (new keys, a changed setting), between
   * batches.
   */
  message?: (data: unknown) => void;
  /** Called once when the worker stops. */
  close?: () => void;
}

/** What a handler module exports: a factory called once per worker. */
export type DatagramHandlerFactory<C = unknown> = (
  config: C,
  context: DatagramHandlerContext,
) => DatagramHandler | DatagramHandlerInstance | Promise<DatagramHandler | DatagramHandlerInstance>;

/** Names a handler: a module, its factory export and the config for it. */
export interface DatagramHandlerSpec<C = unknown> {
  /** File URL or absolute path of the module. */
  module: string;
  /** The factory's export name. @default 'default' */
  export?: string;
  /** Passed to the factory; must survive `structuredClone` (no functions). */
  config?: C;
}

/**
 * Load a handler module and call its factory.
 *
 * @internal used by the engine's workers and its dgram fallback
 */
export async function loadDatagramHandler(
  spec: DatagramHandlerSpec,
  context: DatagramHandlerContext,
  load: (specifier: string) => Promise<Record<string, unknown>>,
): Promise<DatagramHandlerInstance> {
  const mod = await load(spec.module);
  const name = spec.export ?? 'default';
  const factory = mod[name];
  if (typeof factory !== 'function') {
    throw new TypeError(`Handler module ${spec.module} has no factory function named '${name}'`);
  }
  const made = await (factory as DatagramHandlerFactory)(spec.config, context);
  if (typeof made === 'function') return { handle: made };
  if (made && typeof made === 'object' && typeof made.handle === 'function') return made;
  throw new TypeError(
    `Handler factory '${name}' of ${spec.module} returned neither a function nor { handle }`,
  );
}
