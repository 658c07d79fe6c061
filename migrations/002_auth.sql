-- 002: sessions (refresh tokens), merchant API keys and login throttling.
-- Secrets (refresh tokens, API keys) are stored only as their SHA-256: a database leak gives an
-- attacker nothing to present. They are high-entropy random strings, so a fast hash is enough.

-- One row per refresh token ever issued. Tokens are single use: a refresh marks the row used and
-- issues the next token of the same family (one family per login). Presenting a used token again
-- means it was stolen or replayed, so the whole family is revoked (RFC 9700 reuse detection).
create table refresh_tokens (
  id          text primary key check (id ~ '^rt_'),
  -- The id of the family's first token: every token of one login shares it.
  family_id   text not null,
  user_id     text not null references users (id),
  token_hash  text not null unique,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  used_at     timestamptz,
  revoked_at  timestamptz
);
-- Revoking a family (reuse, logout) updates all its rows.
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

-- Merchant API keys (`sk_...`): shown once at creation, then only `prefix` identifies them to their
-- owner. Revocation is a timestamp, not a delete, so a key's history stays auditable.
create table api_keys (
  id           text primary key check (id ~ '^key_'),
  user_id      text not null references users (id),
  name         text,
  -- The first characters of the key, for display ("sk_Ab12Cd34..."): not enough to use it.
  prefix       text not null,
  key_hash     text not null unique,
  created_at   timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
-- Owner's keys, newest first (ids are time-ordered), for the paginated list.
create index api_keys_user_idx on api_keys (user_id, id);

-- Failed (and in-flight) login attempts, one row per attempt per throttle key: the lower-cased email
-- and the client address. A sliding window count over this log decides 429s; it lives in Postgres
-- (not Redis, which only carries queues here) so throttling survives restarts and is shared by every
-- API process. Rows older than the window count for nothing and are pruned as attempts come in.
create table login_attempts (
  id         bigint generated always as identity primary key,
  scope      text not null check (scope in ('email', 'address')),
  key        text not null,
  created_at timestamptz not null default clock_timestamp()
);
create index login_attempts_key_idx on login_attempts (scope, key, created_at);
-- For pruning expired rows.
create index login_attempts_created_idx on login_attempts (created_at);
