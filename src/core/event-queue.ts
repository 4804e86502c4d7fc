/**
 * A bounded queue between a producer that pushes (a server's events, datagrams) and a consumer that pulls
 * (`for await`, e.g. the CLI writing to a slow stdout). Memory stays bounded either way:
 *
 * - `offer(event)` drops the event when the queue is full and counts it (datagrams: UDP may lose them);
 * - `push(event)` always queues and returns `false` once the queue is past its limit, so a producer that can
 *   wait (a TCP socket) pauses until `onDrain` calls back (then the queue has room again).
 *
 * "Full" is a number of events (`limit`) and, with `sizeOf`, a total size (`maxSize`): a thousand events of
 * 64 KiB each are not small, so queues of data (print modes) bound both.
 *
 * @module
 */

/** Options of {@link EventQueue}. */
export interface EventQueueOptions<E = unknown> {
  /** Events held before `offer` drops and `push` asks the producer to pause. @default 1024 */
  limit?: number;
  /** The size of one event in any unit (e.g. characters of its text); sizes count against `maxSize`. */
  sizeOf?: (event: E) => number;
  /** Total size held before `offer` drops and `push` asks to pause (one event is always let in). @default 8 Mi */
  maxSize?: number;
}

/** The defaults of {@link EventQueueOptions}. */
export const EVENT_QUEUE_DEFAULTS = { limit: 1024, maxSize: 8 * 1024 * 1024 } as const;

/**
 * A bounded async queue of events.
 *
 * @example
 * ```ts
 * const q = new EventQueue<string>({ limit: 100 });
 * server.on('message', (m) => q.offer(m.text));
 * server.finished.then(() => q.end());
 * for await (const text of q) console.log(text);
 * ```
 */
export class EventQueue<E> implements AsyncIterable<E> {
  readonly limit: number;
  readonly maxSize: number;
  readonly #sizeOf: ((event: E) => number) | undefined;
  #size = 0;
  #items: E[] = [];
  #head = 0;
  #dropped = 0;
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  #drainWaiters: Array<() => void> = [];

  constructor(options: EventQueueOptions<E> = {}) {
    this.limit = options.limit ?? EVENT_QUEUE_DEFAULTS.limit;
    this.maxSize = options.maxSize ?? EVENT_QUEUE_DEFAULTS.maxSize;
    this.#sizeOf = options.sizeOf;
  }

  /** Events waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Total size of the events waiting (0 without `sizeOf`). */
  get size(): number {
    return this.#size;
  }

  /** Events `offer` dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Whether `offer` would take an event of this size now (to skip building an event that would be dropped).
   *
   * @param size - the event's size in the unit of `sizeOf`
   * @returns whether there is room
   */
  hasRoom(size = 0): boolean {
    return (
      !this.#ended && this.length < this.limit && (this.length === 0 || this.#size + size <= this.maxSize)
    );
  }

  /**
   * Queue an event unless the queue is full; a dropped event is counted.
   *
   * @returns whether the event was queued
   */
  offer(event: E): boolean {
    if (this.#ended) return false;
    const size = this.#sizeOf ? this.#sizeOf(event) : 0;
    if (!this.hasRoom(size)) {
      this.#dropped++;
      return false;
    }
    this.#add(event, size);
    return true;
  }

  /**
   * Queue an event, always.
   *
   * @returns `false` when the queue is now past its limit: the producer should pause until {@link onDrain}
   */
  push(event: E): boolean {
    if (this.#ended) return false;
    this.#add(event, this.#sizeOf ? this.#sizeOf(event) : 0);
    return this.length < this.limit && this.#size < this.maxSize;
  }

  /** Call `callback` once, when the queue has fallen to half its limits (at once if it already has). */
  onDrain(callback: () => void): void {
    if (this.#halfEmpty() || this.#ended) callback();
    else this.#drainWaiters.push(callback);
  }

  #halfEmpty(): boolean {
    return this.length <= this.limit / 2 && this.#size <= this.maxSize / 2;
  }

  /** No more events: iteration ends once the queued ones are consumed. */
  end(): void {
    this.#ended = true;
    this.#wakeUp();
    this.#releaseDrain();
  }

  /** End with an error: iteration throws it after the queued events. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error ?? new Error('failed');
    this.end();
  }

  #add(event: E, size: number): void {
    this.#size += size;
    this.#items.push(event);
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #releaseDrain(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  #take(): E {
    const item = this.#items[this.#head] as E;
    this.#items[this.#head] = undefined as E;
    this.#head++;
    if (this.#sizeOf) this.#size -= this.#sizeOf(item);
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#drainWaiters.length > 0 && this.#halfEmpty()) this.#releaseDrain();
    return item;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<E> {
    for (;;) {
      if (this.length > 0) {
        yield this.#take();
        continue;
      }
      if (this.#ended) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}
