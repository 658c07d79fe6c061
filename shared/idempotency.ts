import { createHash } from "node:crypto";
import type { Ctx } from "./context.ts";
import type { Tx } from "./db/index.ts";
import { BadRequestError, ConflictError, UnavailableError, ValidationError } from "./errors.ts";

/**
 * Idempotency for every money-moving POST, after the IETF Idempotency-Key draft: the record and
 * the work it guards commit in ONE transaction, so a request that dies before committing leaves
 * nothing behind and its retry is handled as new; a concurrent duplicate cannot take the
 * transaction-scoped advisory lock and gets 409 at once.
 */

const KEY = /^[\x20-\x7e]{1,255}$/;

/** The key from the header (plain or sf-string quoted) or the body field; both and different: 400. */
export function readIdempotencyKey(header: string | undefined, bodyKey: unknown): string {
  let fromHeader: string | undefined;
  if (header !== undefined) {
    const trimmed = header.trim();
    const quoted = trimmed.match(/^"((?:[^"\\]|\\["\\])*)"$/);
    fromHeader = quoted?.[1] !== undefined ? quoted[1].replace(/\\(["\\])/g, "$1") : trimmed;
  }
  const fromBody = typeof bodyKey === "string" ? bodyKey : undefined;
  if (bodyKey !== undefined && bodyKey !== null && typeof bodyKey !== "string") {
    throw new BadRequestError("idempotency_key_invalid", "idempotency_key must be a string.", {
      errors: [{ pointer: "/idempotency_key", detail: "must be a string" }],
    });
  }
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
    throw new BadRequestError(
      "idempotency_key_mismatch",
      "The Idempotency-Key header and the idempotency_key body field differ.",
    );
  }
  const key = fromHeader ?? fromBody;
  if (key === undefined || key === "") {
    throw new BadRequestError(
      "idempotency_key_required",
      "This request moves money: send an Idempotency-Key header (a unique value per operation).",
    );
  }
  if (!KEY.test(key)) {
    throw new BadRequestError(
      "idempotency_key_invalid",
      "The Idempotency-Key must be 1 to 255 printable ASCII characters.",
    );
  }
  return key;
}

/** Canonical JSON: keys sorted at every level, so `{a,b}` and `{b,a}` are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => k !== "idempotency_key" && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash("sha256")
    .update(`${method.toUpperCase()} ${path}\n${canonical(body)}`)
    .digest("hex");
}

export interface IdempotentResult {
  status: number;
  /** The exact response text (JSON). */
  body: string;
  replayed: boolean;
}

export interface IdempotentRequest {
  key: string;
  method: string;
  path: string;
  body: unknown;
}

/**
 * Runs `work` once per (principal, key). `work` runs inside the transaction and returns the
 * response to store; `afterCommit` hooks it registers (enqueueing) run only after COMMIT. A domain
 * error thrown by `work` rolls everything back and stores nothing.
 */
export async function idempotent(
  ctx: Ctx,
  req: IdempotentRequest,
  work: (
    tx: Tx,
    afterCommit: (fn: () => Promise<void>) => void,
  ) => Promise<{ status: number; body: unknown }>,
): Promise<IdempotentResult> {
  const principal = ctx.principal.userId;
  const hash = requestFingerprint(req.method, req.path, req.body);
  const hooks: (() => Promise<void>)[] = [];
  const result = await ctx.sql.begin(async (tx) => {
    // The lock first, then the read, in two statements: a statement's snapshot is taken when it
    // starts, so a read in the same statement could miss a record committed while we waited.
    const [lock] = await tx<{ ok: boolean }[]>`
      select pg_try_advisory_xact_lock(hashtextextended(${`${principal}\n${req.key}`}, 0)) as ok`;
    if (!lock?.ok) {
      throw new ConflictError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being handled.",
        {
          headers: { "Retry-After": "1" },
        },
      );
    }
    const [existing] = await tx<
      { request_hash: string; response_status: number; response_body: string; live: boolean }[]
    >`
      select request_hash, response_status, response_body, expires_at > now() as live
        from idempotency_keys where principal = ${principal} and key = ${req.key}`;
    if (existing?.live) {
      if (existing.request_hash !== hash) {
        throw new ValidationError(
          "idempotency_key_reused",
          "This Idempotency-Key was used with a different request; use a new key for a new request.",
        );
      }
      return { status: existing.response_status, body: existing.response_body, replayed: true };
    }
    // New work. (A replay above is served from Postgres alone, even while Redis is down.) Accepting
    // work we could not enqueue would be safe, the reconciler catches up, but refusing it while
    // Redis is down keeps the promise of "posted within seconds" honest. The connection's state,
    // not a PING: a dead Redis shows there at once, and the hot path saves a round trip.
    if (ctx.redis.status !== "ready") {
      throw new UnavailableError("queue_unavailable", "The payment queue is unavailable; retry shortly.", {
        headers: { "Retry-After": "5" },
      });
    }
    if (existing) await tx`delete from idempotency_keys where principal = ${principal} and key = ${req.key}`;
    const response = await work(tx, (fn) => hooks.push(fn));
    const body = JSON.stringify(response.body);
    await tx`
      insert into idempotency_keys (principal, key, request_hash, response_status, response_body, expires_at)
      values (${principal}, ${req.key}, ${hash}, ${response.status}, ${body},
              now() + make_interval(hours => ${ctx.config.IDEMPOTENCY_TTL_HOURS}))`;
    return { status: response.status, body, replayed: false };
  });
  if (!result.replayed) {
    for (const hook of hooks) {
      await hook().catch((err) =>
        ctx.log.warn(
          { err: (err as Error).message },
          "enqueue after commit failed; the reconciler will catch up",
        ),
      );
    }
  }
  return result;
}

/** Deletes idempotency records past their TTL. */
export async function pruneIdempotencyKeys(sql: Tx | Ctx["sql"]): Promise<number> {
  const rows =
    await sql`delete from idempotency_keys where expires_at < now() - interval '1 minute' returning 1`;
  return rows.length;
}
