import { createHash } from "node:crypto";
import type { Ctx } from "./context.ts";
import type { Db, Tx } from "./db/index.ts";
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

/** One idempotency key of one principal. */
export interface KeyRef {
  principal: string;
  key: string;
}

/** The same key of the same principal: the same string. */
export function keyId(ref: KeyRef): string {
  return `${ref.principal}\n${ref.key}`;
}

interface StoredRecord {
  request_hash: string;
  response_status: number;
  response_body: string;
  live: boolean;
}

/**
 * Takes each key's transaction-scoped advisory lock without waiting, in one statement: false where
 * another transaction holds it (a concurrent request with the same key). Run it before
 * `findRecords`, as a statement of its own: a statement's snapshot is taken when it starts, so a
 * read in the same statement could miss a record committed while we waited.
 */
export async function tryLockKeys(tx: Db, refs: KeyRef[]): Promise<boolean[]> {
  const rows = await tx<{ ok: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtextextended(k, 0)) as ok
      from unnest(${refs.map(keyId)}::text[]) with ordinality as t(k, i)
     order by i`;
  return rows.map((r) => r.ok);
}

/** The stored records of these keys (live or expired), by `keyId`, in one statement. */
export async function findRecords(tx: Db, refs: KeyRef[]): Promise<Map<string, StoredRecord>> {
  // One primary-key lookup per key (a lateral join): a plain join or IN over unnest() may be
  // planned as a scan of the whole table.
  const rows = await tx<(StoredRecord & { principal: string; key: string })[]>`
    select k.principal, k.key, k.request_hash, k.response_status, k.response_body, k.expires_at > now() as live
      from unnest(${refs.map((r) => r.principal)}::text[], ${refs.map((r) => r.key)}::text[]) as r(principal, key)
     cross join lateral (
       select * from idempotency_keys i where i.principal = r.principal and i.key = r.key) k`;
  return new Map(rows.map((r) => [keyId(r), r]));
}

/**
 * What a stored record means for a request with this fingerprint: the stored response (a replay),
 * a 422 when the key was used for another request, or null (no live record: new work).
 */
export function replayOf(record: StoredRecord | undefined, hash: string): IdempotentResult | null {
  if (!record?.live) return null;
  if (record.request_hash !== hash) {
    throw new ValidationError(
      "idempotency_key_reused",
      "This Idempotency-Key was used with a different request; use a new key for a new request.",
    );
  }
  return { status: record.response_status, body: record.response_body, replayed: true };
}

export function keyInUse(): ConflictError {
  return new ConflictError(
    "idempotency_key_in_use",
    "A request with this Idempotency-Key is still being handled.",
    {
      headers: { "Retry-After": "1" },
    },
  );
}

/**
 * New work while Redis is down is refused. (A replay is served from Postgres alone.) Accepting work
 * we could not enqueue would be safe, the reconciler catches up, but refusing it keeps the promise
 * of "posted within seconds" honest. The connection's state, not a PING: a dead Redis shows there
 * at once, and the hot path saves a round trip.
 */
export function assertQueueUp(ctx: Pick<Ctx, "redis">): void {
  if (ctx.redis.status !== "ready") {
    throw new UnavailableError("queue_unavailable", "The payment queue is unavailable; retry shortly.", {
      headers: { "Retry-After": "5" },
    });
  }
}

/**
 * Stores the responses of new work, in one statement (returned unsent: await it, or `.execute()`
 * it to pipeline it). An expired record of the same key (read as absent by `findRecords`) is
 * replaced; the caller holds each key's lock. At least one record.
 */
export function saveRecords(
  tx: Db,
  ttlHours: number,
  records: (KeyRef & { hash: string; status: number; body: string })[],
) {
  const rows = records.map((r) => ({
    principal: r.principal,
    key: r.key,
    request_hash: r.hash,
    response_status: r.status,
    response_body: r.body,
  }));
  return tx`
    insert into idempotency_keys (principal, key, request_hash, response_status, response_body, expires_at)
    select principal, key, request_hash, response_status, response_body, now() + make_interval(hours => ${ttlHours})
      from jsonb_to_recordset(${tx.json(rows)})
        as x(principal text, key text, request_hash text, response_status int, response_body text)
    on conflict (principal, key) do update
       set request_hash = excluded.request_hash, response_status = excluded.response_status,
           response_body = excluded.response_body, created_at = now(), expires_at = excluded.expires_at
     where idempotency_keys.expires_at <= now()`;
}

/**
 * Runs `work` once per (principal, key), in a transaction of its own (payment creation goes
 * through group commit instead: shared/payments/accept.ts). `work` runs inside the transaction and
 * returns the response to store; `afterCommit` hooks it registers (enqueueing) run only after
 * COMMIT. A domain error thrown by `work` rolls everything back and stores nothing.
 */
export async function idempotent(
  ctx: Ctx,
  req: IdempotentRequest,
  work: (
    tx: Tx,
    afterCommit: (fn: () => Promise<void>) => void,
  ) => Promise<{ status: number; body: unknown }>,
): Promise<IdempotentResult> {
  const ref = { principal: ctx.principal.userId, key: req.key };
  const hash = requestFingerprint(req.method, req.path, req.body);
  const hooks: (() => Promise<void>)[] = [];
  const result = await ctx.sql.begin(async (tx) => {
    const [locked] = await tryLockKeys(tx, [ref]);
    if (!locked) throw keyInUse();
    const replay = replayOf((await findRecords(tx, [ref])).get(keyId(ref)), hash);
    if (replay) return replay;
    assertQueueUp(ctx);
    const response = await work(tx, (fn) => hooks.push(fn));
    const body = JSON.stringify(response.body);
    await saveRecords(tx, ctx.config.IDEMPOTENCY_TTL_HOURS, [
      { ...ref, hash, status: response.status, body },
    ]);
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
