/**
 * Response bodies of `memstats serve` rendered once and shared, with a cap
 * on how many are alive at a time.
 *
 * A body (the `/metrics` exposition of one frame, say) is rendered lazily,
 * one chunk at a time, as its readers pull. Requests for the same body of
 * the same frame share it: the chunks are kept while the frame is current,
 * so twenty scrapes arriving in the same second cost one render and one
 * copy of the text, each response streaming the same bytes at its own pace.
 * A request arriving just after the frame changed joins the previous
 * frame's body while that is still being sent (and at most
 * {@linkcode PoolOptions.joinMs} old) rather than start a second render of
 * nearly the same figures.
 * A body estimated above {@linkcode PoolOptions.shareLimitBytes} is not
 * kept: each request renders its own, holding one chunk at a time.
 *
 * At most {@linkcode PoolOptions.maxRenders} bodies are alive at once
 * (shared or not); further requests wait for one to end, up to
 * {@linkcode PoolOptions.waitMs}, in a queue of at most
 * {@linkcode PoolOptions.queueLimit}; past either limit the caller answers
 * 503 with `Retry-After`. So memory stays below about
 * `maxRenders × shareLimitBytes` whatever the number of clients. A reader
 * that stops pulling for {@linkcode PoolOptions.idleMs} is cut off, so a
 * stalled client cannot hold a body forever.
 *
 * @module
 */

/** Limits of a {@linkcode BodyPool}. */
export interface PoolOptions {
  /** Bodies alive at once (default 4). */
  readonly maxRenders?: number;
  /** Bodies estimated larger are rendered per request and not kept (default 128 MiB). */
  readonly shareLimitBytes?: number;
  /** Requests waiting for a render at once (default 64); more are refused at once. */
  readonly queueLimit?: number;
  /** How long a request waits for a render before it is refused (default 10 s). */
  readonly waitMs?: number;
  /** A reader that does not pull for this long is cut off (default 30 s). */
  readonly idleMs?: number;
  /** A body still being sent may be joined by requests of the next frame while younger than this (default 2 s). */
  readonly joinMs?: number;
  /** Called when rendering a body throws (the response is cut off). */
  readonly onError?: (e: unknown) => void;
  /** Called when a body ended and its chunks were dropped, with how many bytes it rendered. */
  readonly onBodyEnd?: (bytes: number) => void;
}

const encoder = new TextEncoder();

/** The chunks of one body, rendered on demand; kept when shared. */
class Body {
  readonly #chunks: Uint8Array[] = [];
  readonly #keep: boolean;
  #source: Iterator<string> | undefined;
  #error: unknown;
  readonly createdAt: number = Date.now();
  /** Bytes rendered so far. */
  bytes = 0;
  readers = 0;
  cached = false;
  ended = false;

  constructor(source: Iterator<string>, keep: boolean) {
    this.#source = source;
    this.#keep = keep;
  }

  /** Whether a new reader can start it from the first chunk. */
  get joinable(): boolean {
    return this.#keep && !this.ended;
  }

  /** Chunk `i`, rendering up to it; null past the end. Throws what rendering threw. */
  chunk(i: number): Uint8Array | null {
    if (this.#keep && i < this.#chunks.length) return this.#chunks[i];
    if (this.#error !== undefined) throw this.#error;
    if (this.#source === undefined) return null;
    let r: IteratorResult<string>;
    try {
      r = this.#source.next();
    } catch (e) {
      this.#error = e;
      this.#source = undefined;
      throw e;
    }
    if (r.done) {
      this.#source = undefined;
      return null;
    }
    const bytes = encoder.encode(r.value);
    this.bytes += bytes.length;
    if (this.#keep) this.#chunks.push(bytes);
    return bytes;
  }

  /** Stop rendering (the last reader left and the body is not kept). */
  drop(): void {
    this.ended = true;
    this.#source?.return?.();
    this.#source = undefined;
    this.#chunks.length = 0;
  }
}

/** Shared, capped bodies; see the module documentation. */
export class BodyPool {
  readonly #max: number;
  readonly #shareLimit: number;
  readonly #queueLimit: number;
  readonly #waitMs: number;
  readonly #idleMs: number;
  readonly #joinMs: number;
  readonly #onError: PoolOptions["onError"];
  readonly #onBodyEnd: PoolOptions["onBodyEnd"];
  #alive = 0;
  readonly #waiting: (() => void)[] = [];
  #cacheFrame = -1;
  readonly #cache = new Map<string, Body>();
  /** Bodies of the previous frame still being sent. */
  #previous = new Map<string, Body>();
  readonly #open = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #closed = false;

  constructor(options: PoolOptions = {}) {
    this.#max = options.maxRenders ?? 4;
    this.#shareLimit = options.shareLimitBytes ?? 128 * 1024 * 1024;
    this.#queueLimit = options.queueLimit ?? 64;
    this.#waitMs = options.waitMs ?? 10_000;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#joinMs = options.joinMs ?? 2000;
    this.#onError = options.onError;
    this.#onBodyEnd = options.onBodyEnd;
  }

  /** Bodies alive, requests waiting, bodies kept for the current frame. */
  get stats(): { alive: number; waiting: number; cached: number } {
    return { alive: this.#alive, waiting: this.#waiting.length, cached: this.#cache.size };
  }

  /**
   * A stream of body `key` of frame `frameId`: the kept one when another
   * request of the same frame made it, else a new one from `render` (which
   * is called at most once per body). Undefined when too many bodies are
   * alive and the wait ran out or the queue is full: answer 503.
   */
  async open(
    frameId: number,
    key: string,
    estimateBytes: number,
    render: () => Iterator<string>,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    if (this.#closed) return undefined;
    this.#evictBefore(frameId);
    let body = frameId === this.#cacheFrame ? this.#cache.get(key) ?? this.#recent(key) : undefined;
    if (body === undefined) {
      if (!(await this.#acquire())) return undefined;
      this.#evictBefore(frameId); // frames may have moved on while waiting
      const shared = frameId === this.#cacheFrame ? this.#cache.get(key) : undefined;
      if (shared !== undefined) {
        this.#release(); // another request made it meanwhile
        body = shared;
      } else {
        const keep = estimateBytes <= this.#shareLimit && frameId >= this.#cacheFrame;
        body = new Body(render(), keep);
        if (keep) {
          this.#cacheFrame = frameId;
          this.#cache.set(key, body);
          body.cached = true;
        }
      }
    }
    return this.#reader(body);
  }

  /** The frame `frameId` is current: bodies of older frames end once their readers are done. */
  advance(frameId: number): void {
    this.#evictBefore(frameId);
  }

  /** Cut off every open stream and refuse new ones (the server is stopping). */
  close(): void {
    this.#closed = true;
    for (const c of this.#open) {
      try {
        c.error(new Error("memstats serve is stopping"));
      } catch { /* already closed */ }
    }
    this.#open.clear();
    for (const wake of this.#waiting.splice(0)) wake();
  }

  #reader(body: Body): ReadableStream<Uint8Array> {
    body.readers++;
    let i = 0;
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: ReadableStreamDefaultController<Uint8Array>;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#open.delete(controller);
      if (--body.readers === 0 && !body.cached) this.#bodyEnded(body);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          controller.error(new Error("client stopped reading"));
        } catch { /* closed meanwhile */ }
        finish();
      }, this.#idleMs);
    };
    return new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        this.#open.add(c);
        arm();
      },
      pull: (c) => {
        if (finished) return;
        arm();
        let bytes: Uint8Array | null;
        try {
          bytes = body.chunk(i++);
        } catch (e) {
          this.#onError?.(e);
          c.error(e);
          finish();
          return;
        }
        if (bytes === null) {
          c.close();
          finish();
        } else {
          c.enqueue(bytes);
        }
      },
      cancel: () => finish(),
    }, { highWaterMark: 0 });
  }

  /** Drop kept bodies of frames older than `frameId`; they end once their readers do. */
  #evictBefore(frameId: number): void {
    if (frameId <= this.#cacheFrame) return;
    const previous = new Map<string, Body>();
    for (const [key, body] of this.#cache) {
      body.cached = false;
      if (body.readers === 0) this.#bodyEnded(body);
      else previous.set(key, body);
    }
    this.#previous = previous;
    this.#cache.clear();
    this.#cacheFrame = frameId;
  }

  /** The previous frame's body `key` when it is still being sent and young enough to join. */
  #recent(key: string): Body | undefined {
    const b = this.#previous.get(key);
    return b !== undefined && b.readers > 0 && b.joinable && Date.now() - b.createdAt < this.#joinMs
      ? b
      : undefined;
  }

  #bodyEnded(body: Body): void {
    if (body.ended) return;
    body.drop();
    this.#release();
    this.#onBodyEnd?.(body.bytes);
  }

  async #acquire(): Promise<boolean> {
    if (this.#alive < this.#max) {
      this.#alive++;
      return true;
    }
    if (this.#waiting.length >= this.#queueLimit) return false;
    return await new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined = undefined;
      const wake = () => {
        clearTimeout(timer);
        if (this.#closed) return resolve(false);
        this.#alive++;
        resolve(true);
      };
      timer = setTimeout(() => {
        const at = this.#waiting.indexOf(wake);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      }, this.#waitMs);
      this.#waiting.push(wake);
    });
  }

  #release(): void {
    this.#alive--;
    const next = this.#waiting.shift();
    if (next !== undefined) next();
  }
}
