import type { Config } from "../config.ts";
import type { Sql } from "../db/index.ts";
import { RateLimitedError } from "../errors.ts";

/**
 * Login throttling: a sliding window over the `login_attempts` log, per email and per client
 * address. An attempt is recorded BEFORE the password is checked (under a per-key advisory lock),
 * so a burst of concurrent guesses cannot all slip under the limit; a successful login then takes
 * its rows back and clears the email's failures. What stays in the log is failures; rows that left the
 * window are deleted as later attempts come in.
 */

/** First key of the two-int advisory lock space; the second is the hash of the throttle key. */
const LOCK_NAMESPACE = 727_274_002;

export interface LoginKeys {
  /** Lower-cased email. */
  email: string;
  /** Client address, or a fixed key when the transport does not tell us. */
  address: string;
}

export interface LoginAttempt {
  keys: LoginKeys;
  /** The rows this attempt added. */
  ids: bigint[];
}

type Scope = "email" | "address";

/** Records an attempt, or throws 429 with Retry-After when the email or the address is over budget. */
export async function beginLoginAttempt(sql: Sql, config: Config, keys: LoginKeys): Promise<LoginAttempt> {
  const max = config.LOGIN_MAX_ATTEMPTS;
  const windowSeconds = config.LOGIN_WINDOW_SECONDS;
  // Always email first, then address: every transaction locks in the same order, so no deadlock.
  const scopes: [Scope, string][] = [
    ["email", keys.email],
    ["address", keys.address],
  ];
  const result = await sql.begin(async (tx) => {
    // Housekeeping, bounded: attempts that left the window count for nothing any more.
    await tx`
      delete from login_attempts where id in (
        select id from login_attempts
         where created_at <= clock_timestamp() - make_interval(secs => ${windowSeconds})
         limit 500 for update skip locked)`;
    let waitSeconds = 0;
    for (const [scope, key] of scopes) {
      await tx`select pg_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${`${scope}:${key}`}))`;
      const inWindow = tx`
        scope = ${scope} and key = ${key}
        and created_at > clock_timestamp() - make_interval(secs => ${windowSeconds})`;
      const [count] = await tx<{ n: number }[]>`
        select count(*)::int as n from login_attempts where ${inWindow}`;
      const n = count?.n ?? 0;
      if (n >= max) {
        // The window drops below the limit when the (n - max + 1)-th oldest attempt leaves it.
        const [row] = await tx<{ wait: number }[]>`
          select extract(epoch from created_at + make_interval(secs => ${windowSeconds}) - clock_timestamp())::float8 as wait
            from login_attempts where ${inWindow}
           order by created_at asc offset ${n - max} limit 1`;
        waitSeconds = Math.max(waitSeconds, row?.wait ?? windowSeconds);
      }
    }
    if (waitSeconds > 0) return { blocked: true as const, waitSeconds };
    const rows = await tx<{ id: bigint }[]>`
      insert into login_attempts (scope, key)
      values ('email', ${keys.email}), ('address', ${keys.address})
      returning id`;
    return { blocked: false as const, ids: rows.map((r) => r.id) };
  });
  if (result.blocked) throw new RateLimitedError(result.waitSeconds);
  return { keys, ids: result.ids };
}

/** A successful login: its own rows go, and so do the email's earlier failures. */
export async function loginSucceeded(sql: Sql, attempt: LoginAttempt): Promise<void> {
  await sql`
    delete from login_attempts
     where id = any(${attempt.ids.map(String)}::bigint[])
        or (scope = 'email' and key = ${attempt.keys.email})`;
}
