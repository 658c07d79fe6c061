import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

/** Distinct static paths remembered; beyond it the oldest is forgotten first. */
const DEFAULT_MAX_ENTRIES = 512;

/**
 * Hono's own router (the SmartRouter every Hono app gets) with the matches of parameterless paths
 * remembered. Our routes need its TrieRouter (a static path beside a parameter, such as
 * `/accounts/history` and `/accounts/:account_number`, is beyond the RegExpRouter), and the trie
 * searches and sorts on every request: a few percent of the API's CPU and more of its allocations,
 * spent on POST /payments thousands of times a second to find the same handlers again.
 *
 * A match without path parameters is a pure function of (method, path) once the routes are in, and
 * Hono only reads it, so the same result serves every later request for that path. Matches with
 * parameters (`/payments/pay_...`) are not kept: their paths are as many as the ids. Bounded, so
 * made-up paths cannot grow it; adding a route empties it.
 */
export class CachingRouter<T> implements Router<T> {
  name = "CachingRouter";
  readonly #router: Router<T>;
  readonly #maxEntries: number;
  readonly #matches = new Map<string, Result<T>>();

  constructor(
    router: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] }),
    maxEntries = DEFAULT_MAX_ENTRIES,
  ) {
    this.#router = router;
    this.#maxEntries = maxEntries;
  }

  /** How many matches are remembered (for tests). */
  get size(): number {
    return this.#matches.size;
  }

  add(method: string, path: string, handler: T): void {
    this.#matches.clear();
    this.#router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`;
    const known = this.#matches.get(key);
    if (known) return known;
    const result = this.#router.match(method, path);
    if (withoutParams(result)) {
      if (this.#matches.size >= this.#maxEntries) {
        this.#matches.delete(this.#matches.keys().next().value as string);
      }
      this.#matches.set(key, result);
    }
    return result;
  }
}

/** No handler of the match captured a path parameter (and no parameter stash came with it). */
function withoutParams<T>(result: Result<T>): boolean {
  const stash = result[1] as unknown[] | undefined;
  if (stash && stash.length > 1) return false;
  return result[0].every(([, params]) => Object.keys(params).length === 0);
}
