/**
 * What a TCP server does with each connection: echo, reply, print, chat or discard. Each mode is a
 * {@link TcpHandler} for {@link createTcpServer}.
 *
 * Every mode respects backpressure: when the socket's write side is over its high-water mark the mode stops
 * reading from that client until the output drains, so a client that sends without reading slows itself
 * down (TCP flow control) instead of growing the server's memory. Chat is the exception by design — one
 * client's slowness must not stop the others — so a chat client that stops reading gets a capped queue and
 * is dropped when it overflows.
 *
 * ## What a "message" is (reply and print modes)
 * TCP carries a byte stream, not messages, so the modes offer three framings:
 * - `auto` (default): each line (up to LF; a CR before it is dropped) is a message, and bytes after the last
 *   LF of one read are a message too. A client that sends `Hello, server!` without a newline gets its reply,
 *   as with the classic `recv()`-then-`send()` course server, and line-by-line clients get one reply per line.
 * - `line`: only complete lines are messages; a partial line waits for its LF (or the client's FIN, or
 *   `maxLineLength` bytes).
 * - `chunk`: each read from the socket is one message, whatever it contains (exactly the classic server).
 * Chat always uses `line`.
 *
 * @module
 */
import type net from 'node:net';
import { ValidationError } from '../core/errors.js';
import { printable } from '../core/text.js';
import { checkBoolean, checkOptionsObject, describeValue, parseInteger } from '../core/validate.js';
import type { TcpHandler, TcpServerConnection } from './tcp-server.js';

/** The server modes. */
export type TcpMode = 'echo' | 'reply' | 'print' | 'chat' | 'discard';

/** Every mode, for validation and help text. */
export const TCP_MODES: readonly TcpMode[] = ['echo', 'reply', 'print', 'chat', 'discard'];

/** How a byte stream is cut into messages (see the module notes). */
export type Framing = 'auto' | 'line' | 'chunk';

/** Every framing. */
export const FRAMINGS: readonly Framing[] = ['auto', 'line', 'chunk'];

/** Defaults of the mode options, in one place. */
export const TCP_MODE_DEFAULTS = {
  reply: 'message received',
  framing: 'auto' as Framing,
  maxLineLength: 65536,
  chatMaxQueue: 1024 * 1024,
  chatAnnounce: true,
} as const;

const LF = 0x0a;
const CR = 0x0d;

/**
 * Cuts a byte stream into messages by a {@link Framing}. Pure: bytes in, messages out.
 *
 * @example
 * ```ts
 * const s = new MessageSplitter('line');
 * s.push(Buffer.from('a\nb')); // [<Buffer 61>]
 * s.push(Buffer.from('c\n')); // [<Buffer 62 63>]
 * ```
 */
export class MessageSplitter {
  readonly framing: Framing;
  readonly maxLineLength: number;
  #partial: Buffer | undefined;
  #pendingLength = 0;
  #pendingEndsCR = false;

  /**
   * @param framing - `auto`, `line` or `chunk`
   * @param maxLineLength - with `line`, a partial line this long is given out as a message
   */
  constructor(framing: Framing = 'auto', maxLineLength: number = TCP_MODE_DEFAULTS.maxLineLength) {
    this.framing = framing;
    this.maxLineLength = maxLineLength;
  }

  /**
   * Feed one read; returns the messages it completes (without their line endings).
   *
   * @param chunk - bytes as read
   * @returns complete messages
   */
  push(chunk: Buffer): Buffer[] {
    if (this.framing === 'chunk') return chunk.length ? [chunk] : [];
    const out: Buffer[] = [];
    let data = chunk;
    if (this.#partial) {
      data = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let start = 0;
    for (;;) {
      const nl = data.indexOf(LF, start);
      if (nl === -1) break;
      const end = nl > start && data[nl - 1] === CR ? nl - 1 : nl;
      this.#emit(out, data.subarray(start, end));
      start = nl + 1;
    }
    if (start < data.length) {
      let rest = data.subarray(start);
      if (this.framing === 'auto') this.#emit(out, rest);
      else {
        // Whole pieces of maxLineLength go out now; the tail waits for its LF.
        while (rest.length >= this.maxLineLength) {
          out.push(rest.subarray(0, this.maxLineLength));
          rest = rest.subarray(this.maxLineLength);
        }
        if (rest.length > 0) this.#partial = Buffer.from(rest);
      }
    }
    return out;
  }

  /** A message, cut into pieces of at most `maxLineLength` bytes with `line` framing. */
  #emit(out: Buffer[], message: Buffer): void {
    if (this.framing !== 'line' || message.length <= this.maxLineLength) {
      out.push(message);
      return;
    }
    for (let i = 0; i < message.length; i += this.maxLineLength) {
      out.push(message.subarray(i, i + this.maxLineLength));
    }
  }

  /**
   * The partial message left at the end of the stream, if any.
   *
   * @returns the remaining bytes, or `undefined`
   */
  flush(): Buffer | undefined {
    const p = this.#partial;
    this.#partial = undefined;
    return p && p.length > 0 ? p : undefined;
  }

  /**
   * How many messages a read completes, without building them (reply mode needs only the count). Use either
   * `count` or `push` on one splitter, not both.
   *
   * @param chunk - bytes as read
   * @returns the number of messages
   */
  count(chunk: Buffer): number {
    if (this.framing === 'chunk') return chunk.length ? 1 : 0;
    if (this.framing === 'auto') {
      let n = 0;
      let last = -1;
      for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
        n++;
        last = i;
      }
      return chunk.length - last - 1 > 0 ? n + 1 : n;
    }
    // line: mirror push() exactly, pieces of maxLineLength included, without building the messages.
    const max = this.maxLineLength;
    let n = 0;
    let i = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, i);
      if (nl === -1) {
        const seg = chunk.length - i;
        if (seg > 0) {
          const total = this.#pendingLength + seg;
          n += Math.floor(total / max);
          this.#pendingLength = total % max;
          this.#pendingEndsCR = this.#pendingLength > 0 && chunk[chunk.length - 1] === CR;
        }
        return n;
      }
      let len = this.#pendingLength + (nl - i);
      const crBefore = nl > i ? chunk[nl - 1] === CR : this.#pendingLength > 0 && this.#pendingEndsCR;
      if (crBefore) len -= 1;
      n += len <= max ? 1 : Math.ceil(len / max);
      this.#pendingLength = 0;
      this.#pendingEndsCR = false;
      i = nl + 1;
    }
  }

  /**
   * Whether `count` has seen bytes of a message not yet counted (the stream ended mid-line). Resets it.
   *
   * @returns true when a partial message was pending
   */
  flushCount(): boolean {
    const pending = this.#pendingLength > 0;
    this.#pendingLength = 0;
    this.#pendingEndsCR = false;
    return pending;
  }
}

// Shared listeners (no closures per connection): `this` is the socket.
function onEchoData(this: net.Socket, chunk: Buffer): void {
  if (!this.write(chunk)) this.pause();
}
function onDrainResume(this: net.Socket): void {
  this.resume();
}
function onEndEnd(this: net.Socket): void {
  this.end();
}

/**
 * Echo mode: send back every byte, in order. The client's FIN is answered with the server's FIN once the
 * echo is flushed (half-close done right).
 *
 * @returns a handler for {@link createTcpServer}
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, echoHandler());
 * ```
 */
export function echoHandler(): TcpHandler {
  return (conn) => {
    const s = conn.socket;
    s.on('data', onEchoData);
    s.on('drain', onDrainResume);
    s.on('end', onEndEnd);
  };
}

/**
 * Discard mode: read and drop everything (RFC 863 over TCP); bytes are still counted.
 *
 * @returns a handler
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, discardHandler());
 * ```
 */
export function discardHandler(): TcpHandler {
  return (conn) => {
    conn.socket.on('end', onEndEnd);
    conn.socket.resume();
  };
}

/** Options of {@link replyHandler}. */
export interface ReplyOptions {
  /** The answer to each message; a newline is added. @default 'message received' */
  text?: string;
  /** How messages are cut from the stream. @default 'auto' */
  framing?: Framing;
  /** With `line` framing, a partial line this long counts as a message. @default 65536 */
  maxLineLength?: number;
}

/**
 * Reply mode: answer each message (see the framings in the module notes) with a fixed text and a newline.
 *
 * @param options - the text and framing
 * @returns a handler
 * @throws {ValidationError} for a bad framing
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, replyHandler({ text: 'message received' }));
 * ```
 */
export function replyHandler(options: ReplyOptions = {}): TcpHandler {
  checkOptionsObject(options, 'reply options');
  if (options.text !== undefined && typeof options.text !== 'string') {
    throw new ValidationError(`Invalid reply text '${describeValue(options.text)}': expected a string`);
  }
  const framing = checkFraming(options.framing ?? TCP_MODE_DEFAULTS.framing);
  const maxLine = checkMaxLine(options.maxLineLength);
  const reply = Buffer.from(`${options.text ?? TCP_MODE_DEFAULTS.reply}\n`);
  const replies = (n: number) => (n === 1 ? reply : Buffer.concat(Array.from({ length: n }, () => reply)));
  return (conn) => {
    const s = conn.socket;
    const splitter = new MessageSplitter(framing, maxLine);
    s.on('data', (chunk: Buffer) => {
      const n = splitter.count(chunk);
      if (n > 0 && !s.write(replies(n))) s.pause();
    });
    s.on('drain', onDrainResume);
    s.on('end', () => {
      if (splitter.flushCount()) s.write(reply);
      s.end();
    });
  };
}

/** One message received in print mode. */
export interface PrintedMessage {
  /** The connection it came on. */
  connection: TcpServerConnection;
  /** `127.0.0.1:50000`. */
  peer: string;
  /** The message's bytes (no line ending). */
  data: Buffer;
  /** The bytes as UTF-8 text, control characters other than tab shown as `\xNN`. */
  text: string;
}

/** Options of {@link printHandler}. */
export interface PrintOptions {
  /**
   * Called for each message. Return `false` when the consumer is full (e.g. a blocked stdout): the
   * connection stops reading (TCP flow control slows the client) until `onDrain` calls back.
   */
  onMessage: (message: PrintedMessage) => unknown;
  /** Called after `onMessage` returned `false`, with the function that resumes reading. @default resume at once */
  onDrain?: (resume: () => void) => void;
  /** How messages are cut from the stream. @default 'auto' */
  framing?: Framing;
  /** With `line` framing, a partial line this long is printed. @default 65536 */
  maxLineLength?: number;
}

/**
 * Print mode: hand each message a client sends to `onMessage` (the CLI prints it prefixed by the client's
 * address). Nothing is sent back; the server ends its side when the client does.
 *
 * @param options - the callback and framing
 * @returns a handler
 * @throws {ValidationError} for a bad framing
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, printHandler({
 *   onMessage: (m) => console.log(`[${m.peer}] ${m.text}`),
 * }));
 * ```
 */
export function printHandler(options: PrintOptions): TcpHandler {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError(`Invalid print options '${describeValue(options)}': expected an object`);
  }
  if (options.onDrain !== undefined && typeof options.onDrain !== 'function') {
    throw new ValidationError(`Invalid onDrain '${describeValue(options.onDrain)}': expected a function`);
  }
  const framing = checkFraming(options.framing ?? TCP_MODE_DEFAULTS.framing);
  const maxLine = checkMaxLine(options.maxLineLength);
  const { onMessage, onDrain } = options;
  if (typeof onMessage !== 'function') throw new ValidationError('Print mode needs an onMessage callback');
  return (conn) => {
    const s = conn.socket;
    const splitter = new MessageSplitter(framing, maxLine);
    const peer = conn.peer;
    let paused = false;
    const resume = () => {
      paused = false;
      if (!s.destroyed) s.resume();
    };
    const emit = (data: Buffer) => {
      if (onMessage({ connection: conn, peer, data, text: printable(data) }) === false && !paused) {
        paused = true;
        s.pause();
        if (onDrain) onDrain(resume);
        else resume();
      }
    };
    s.on('data', (chunk: Buffer) => {
      for (const m of splitter.push(chunk)) emit(m);
    });
    s.on('end', () => {
      const rest = splitter.flush();
      if (rest) emit(rest);
      s.end();
    });
  };
}

/** Options of {@link ChatRoom} and {@link chatHandler}. */
export interface ChatOptions {
  /** Most bytes queued for one client; a client over it has stopped reading and is dropped. @default 1048576 */
  maxQueue?: number;
  /** A partial line this long is relayed as a line. @default 65536 */
  maxLineLength?: number;
  /** Tell the others when someone joins or leaves. @default true */
  announce?: boolean;
  /** Called with every relayed line (already prefixed), e.g. to pass it to other worker processes. */
  onRelay?: (line: Buffer) => void;
}

/**
 * A chat room, like `ncat --chat`: each line a client sends goes to every other client as
 * `[127.0.0.1:50000] line`. A client whose queue grows over `maxQueue` bytes (it stopped reading) is dropped
 * with the reason `dropped` and a detail; the others keep flowing.
 *
 * @example
 * ```ts
 * const room = new ChatRoom({ maxQueue: 65536 });
 * const server = await createTcpServer({ port: 0 }, room.handler());
 * console.log(room.size);
 * ```
 */
export class ChatRoom {
  readonly #members = new Set<TcpServerConnection>();
  readonly #maxQueue: number;
  readonly #maxLine: number;
  readonly #announce: boolean;
  readonly #onRelay: ((line: Buffer) => void) | undefined;
  /** Lines relayed so far. */
  relayed = 0;
  /** Clients dropped for not reading. */
  dropped = 0;

  /** @param options - queue cap, line cap, announcements, relay hook */
  constructor(options: ChatOptions = {}) {
    checkOptionsObject(options, 'chat options');
    checkBoolean(options.announce, 'announce');
    if (options.onRelay !== undefined && typeof options.onRelay !== 'function') {
      throw new ValidationError(`Invalid onRelay '${describeValue(options.onRelay)}': expected a function`);
    }
    this.#maxQueue = parseInteger(options.maxQueue ?? TCP_MODE_DEFAULTS.chatMaxQueue, 'chat queue size', {
      min: 1,
    });
    this.#maxLine = checkMaxLine(options.maxLineLength);
    this.#announce = options.announce ?? TCP_MODE_DEFAULTS.chatAnnounce;
    this.#onRelay = options.onRelay;
  }

  /** How many clients are in the room. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * The handler that puts each connection in this room.
   *
   * @returns a handler for {@link createTcpServer}
   */
  handler(): TcpHandler {
    return (conn) => this.#join(conn);
  }

  /**
   * Send bytes to every member except `except` (already framed, e.g. a prefixed line with its newline).
   *
   * @param data - what to send
   * @param except - the sender, who does not get its own line
   */
  deliver(data: Buffer, except?: TcpServerConnection): void {
    for (const m of this.#members) {
      if (m === except) continue;
      const s = m.socket;
      if (s.destroyed || s.writableEnded) continue;
      s.write(data);
      if (s.writableLength > this.#maxQueue) {
        this.dropped++;
        this.#members.delete(m);
        m.close(
          'dropped',
          `slow reader: ${s.writableLength} bytes queued, over the ${this.#maxQueue}-byte cap`,
        );
      }
    }
  }

  #broadcast(data: Buffer, except?: TcpServerConnection): void {
    this.relayed++;
    this.deliver(data, except);
    this.#onRelay?.(data);
  }

  // The head count, when this room is the whole chat (with workers it is only this process's share).
  #here(): string {
    return this.#onRelay ? '' : ` (${this.#members.size} here)`;
  }

  #join(conn: TcpServerConnection): void {
    const s = conn.socket;
    const peer = conn.peer;
    const prefix = Buffer.from(`[${peer}] `);
    const nl = Buffer.from('\n');
    const splitter = new MessageSplitter('line', this.#maxLine);
    this.#members.add(conn);
    if (this.#announce) this.#broadcast(Buffer.from(`* ${peer} joined${this.#here()}\n`), conn);
    // Lines are relayed with control characters escaped (as ncat --chat does): one client cannot drive the
    // others' terminals with escape sequences.
    s.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        this.#broadcast(Buffer.concat([prefix, Buffer.from(printable(line)), nl]), conn);
      }
    });
    s.on('end', () => {
      const rest = splitter.flush();
      if (rest) this.#broadcast(Buffer.concat([prefix, Buffer.from(printable(rest)), nl]), conn);
      s.end();
    });
    s.on('close', () => {
      if (!this.#members.delete(conn)) return;
      if (this.#announce) this.#broadcast(Buffer.from(`* ${peer} left${this.#here()}\n`));
    });
  }
}

/**
 * Chat mode: a new {@link ChatRoom} shared by every connection of the server.
 *
 * @param options - see {@link ChatOptions}
 * @returns a handler
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, chatHandler({ maxQueue: 1 << 20 }));
 * ```
 */
export function chatHandler(options: ChatOptions = {}): TcpHandler {
  return new ChatRoom(options).handler();
}

/** Options of {@link tcpModeHandler}: those of every mode. */
export interface TcpModeOptions {
  /** Reply mode's text. @default 'message received' */
  reply?: string;
  /** Reply and print modes' framing. @default 'auto' */
  framing?: Framing;
  /** Line cap for line framing and chat. @default 65536 */
  maxLineLength?: number;
  /** Print mode's callback (required for print); return `false` to pause the connection until `onDrain`. */
  onMessage?: (message: PrintedMessage) => unknown;
  /** Print mode: called after `onMessage` returned `false`, with the function that resumes reading. */
  onDrain?: (resume: () => void) => void;
  /** Chat options. */
  chat?: ChatOptions;
}

/**
 * The handler for a mode by name, as the CLI's `--mode` picks it.
 *
 * @param mode - `echo`, `reply`, `print`, `chat` or `discard`
 * @param options - the options of that mode
 * @returns a handler
 * @throws {ValidationError} for an unknown mode or a missing print callback
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 7 }, tcpModeHandler('echo'));
 * ```
 */
export function tcpModeHandler(mode: TcpMode, options: TcpModeOptions = {}): TcpHandler {
  checkOptionsObject(options, 'mode options');
  const common: { framing?: Framing; maxLineLength?: number } = {};
  if (options.framing !== undefined) common.framing = options.framing;
  if (options.maxLineLength !== undefined) common.maxLineLength = options.maxLineLength;
  switch (mode) {
    case 'echo':
      return echoHandler();
    case 'discard':
      return discardHandler();
    case 'reply':
      return replyHandler({ ...common, ...(options.reply !== undefined ? { text: options.reply } : {}) });
    case 'print': {
      const onMessage = options.onMessage;
      if (!onMessage) throw new ValidationError('Print mode needs an onMessage callback');
      return printHandler({
        ...common,
        onMessage,
        ...(options.onDrain !== undefined ? { onDrain: options.onDrain } : {}),
      });
    }
    case 'chat':
      return chatHandler({
        ...(options.maxLineLength !== undefined ? { maxLineLength: options.maxLineLength } : {}),
        ...options.chat,
      });
    default:
      throw new ValidationError(
        `Unknown TCP mode '${String(mode)}': expected one of ${TCP_MODES.join(', ')}`,
      );
  }
}

/**
 * Check a mode name given by a user.
 *
 * @param value - the name
 * @returns the mode
 * @throws {ValidationError} when unknown
 * @example
 * ```ts
 * parseTcpMode('echo'); // 'echo'
 * ```
 */
export function parseTcpMode(value: string): TcpMode {
  if ((TCP_MODES as readonly string[]).includes(value)) return value as TcpMode;
  throw new ValidationError(`Unknown mode '${value}': expected one of ${TCP_MODES.join(', ')}`);
}

function checkFraming(value: string): Framing {
  if ((FRAMINGS as readonly string[]).includes(value)) return value as Framing;
  throw new ValidationError(
    `Unknown framing '${describeValue(value)}': expected one of ${FRAMINGS.join(', ')}`,
  );
}

function checkMaxLine(value: number | undefined): number {
  return parseInteger(value ?? TCP_MODE_DEFAULTS.maxLineLength, 'maximum line length', { min: 1 });
}
