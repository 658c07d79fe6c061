/**
 * Group commit: concurrent calls are gathered and handed to one `flush` together, so a hundred
 * requests cost one database transaction instead of a hundred. Each call still gets exactly its
 * own outcome.
 *
 * A group starts `windowMs` after the first call that finds no group forming, or at once when
 * `maxSize` calls wait. The window is only waited when company may come: a group is committing,
 * or `busy()` says other work is in progress (the API: other requests in flight). A lone call on an
 * idle process starts its group at the end of the current event-loop turn, so waiting for company
 * costs latency only when it also saves commits. At most `maxInFlight` groups run at a time; calls
 * that arrive meanwhile form the next group, so the busier the process, the larger its groups and
 * the fewer its commits.
 */

export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface GroupOptions {
  windowMs: number;
  maxSize: number;
  maxInFlight: number;
  /** Whether other work is in progress that may join the group (default: never). */
  busy?: () => boolean;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class GroupCommit<I, O> {
  readonly #flush: (items: I[]) => Promise<Outcome<O>[]>;
  readonly #opts: GroupOptions;
  #waiting: Waiting<I, O>[] = [];
  #inFlight = 0;
  /** Cancels the armed start, while one is armed. */
  #cancelArmed: (() => void) | null = null;

  /**
   * `flush` answers every item of its group, in order. If it throws, every item of the group
   * fails with that error.
   */
  constructor(flush: (items: I[]) => Promise<Outcome<O>[]>, opts: GroupOptions) {
    this.#flush = flush;
    this.#opts = opts;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#waiting.length >= this.#opts.maxSize) this.#start();
      else this.#arm();
    });
  }

  #arm(): void {
    if (this.#cancelArmed || this.#inFlight >= this.#opts.maxInFlight || this.#waiting.length === 0) return;
    const fire = () => {
      this.#cancelArmed = null;
      this.#start();
    };
    if (this.#opts.windowMs > 0 && (this.#inFlight > 0 || this.#opts.busy?.() === true)) {
      const timer = setTimeout(fire, this.#opts.windowMs);
      this.#cancelArmed = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(fire);
      this.#cancelArmed = () => clearImmediate(immediate);
    }
  }

  #start(): void {
    if (this.#inFlight >= this.#opts.maxInFlight || this.#waiting.length === 0) return;
    this.#cancelArmed?.();
    this.#cancelArmed = null;
    const group = this.#waiting.splice(0, this.#opts.maxSize);
    this.#inFlight++;
    void this.#run(group);
    // A full group waiting behind this one may start too, up to maxInFlight.
    if (this.#waiting.length >= this.#opts.maxSize) this.#start();
  }

  async #run(group: Waiting<I, O>[]): Promise<void> {
    let outcomes: Outcome<O>[] | null = null;
    let failure: unknown;
    try {
      outcomes = await this.#flush(group.map((w) => w.item));
    } catch (error) {
      failure = error;
    }
    // The group is over before its callers hear of it: one that calls again straight from its
    // answer finds no group committing, and is not held for a window no company will fill.
    this.#inFlight--;
    group.forEach((w, i) => {
      const outcome = outcomes ? outcomes[i] : { ok: false as const, error: failure };
      if (!outcome) w.reject(new Error("group commit: no outcome for an item"));
      else if (outcome.ok) w.resolve(outcome.value);
      else w.reject(outcome.error);
    });
    if (this.#waiting.length >= this.#opts.maxSize) this.#start();
    else this.#arm();
  }
}
