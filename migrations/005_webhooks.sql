-- 005: webhook endpoints, deliveries and the log of every delivery attempt.
--
-- Events (003) are written in the posting transaction. A dispatcher turns each new event into one
-- delivery per matching endpoint, and the workers make the attempts. Postgres holds the whole
-- delivery state (what is due, when, which attempt), so losing every queue job loses no webhook:
-- a reconciler re-enqueues pending deliveries that are overdue.

-- Where a user wants events POSTed. `events` is a filter: event types, or '{*}' for all of them.
--
-- The signing secret is stored as it is, not hashed: it is an HMAC key that every delivery needs
-- in full, so a one-way hash would make it useless (Stripe and the Standard Webhooks reference
-- implementations store it the same way). It is shown to the owner only when it is created or
-- rotated, never returned by a read, never logged. Protect it like the database itself (disk
-- encryption, restricted access); if it leaks, the owner rotates it.
-- After a rotation the previous secret keeps signing alongside the new one until
-- `previous_secret_expires_at`, so receivers can switch over without dropping a delivery.
-- Deleting is soft (`deleted_at`): deliveries and attempts keep pointing at the row.
create table webhook_endpoints (
  id                          text primary key check (id ~ '^we_'),
  user_id                     text not null references users (id),
  url                         text not null check (length(url) <= 2048),
  events                      text[] not null check (cardinality(events) > 0),
  description                 text,
  enabled                     boolean not null default true,
  disabled_reason             text,
  secret                      text not null,
  previous_secret             text,
  previous_secret_expires_at  timestamptz,
  created_at                  timestamptz not null default clock_timestamp(),
  updated_at                  timestamptz not null default clock_timestamp(),
  deleted_at                  timestamptz,
  check ((previous_secret is null) = (previous_secret_expires_at is null))
);
create index webhook_endpoints_user_idx on webhook_endpoints (user_id, id desc) where deleted_at is null;

-- One series of attempts to send one event to one endpoint. The dispatcher makes series 0; each
-- redelivery asked through the API starts a new series (1, 2, ...), so the unique key keeps the
-- dispatcher idempotent (ON CONFLICT DO NOTHING) without forbidding redeliveries.
-- While `pending`, `attempt` is the attempt that is due at `next_attempt_at`; a queue job
-- "deliver (id, attempt)" carries the same pair, so a job for an attempt that already happened
-- finds the row moved on and does nothing. `last_*` repeat the latest attempt for quick reads.
create table webhook_deliveries (
  id                text primary key check (id ~ '^whd_'),
  event_id          text not null references events (id),
  endpoint_id       text not null references webhook_endpoints (id),
  series            integer not null default 0 check (series >= 0),
  status            text not null default 'pending'
                    check (status in ('pending', 'delivered', 'failed', 'canceled')),
  attempt           integer not null default 1 check (attempt >= 1),
  next_attempt_at   timestamptz,
  last_status_code  integer,
  last_error        text,
  created_at        timestamptz not null default clock_timestamp(),
  updated_at        timestamptz not null default clock_timestamp(),
  delivered_at      timestamptz,
  unique (event_id, endpoint_id, series),
  check ((status = 'pending') = (next_attempt_at is not null)),
  check ((status = 'delivered') = (delivered_at is not null))
);
-- The reconciler's scan: pending deliveries by due time.
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, id desc);

-- Every attempt ever made, answered or not: what the owner sees under
-- /webhook-endpoints/{id}/deliveries and what support reads when a merchant says "we never got
-- it". An attempt is recorded in the same transaction that moves its delivery on; (delivery_id,
-- attempt) is unique, so a job run twice (a stalled worker's job re-run) records it once.
create table webhook_attempts (
  id           bigint generated always as identity primary key,
  delivery_id  text not null references webhook_deliveries (id),
  event_id     text not null references events (id),
  endpoint_id  text not null references webhook_endpoints (id),
  attempt      integer not null check (attempt >= 1),
  status_code  integer,
  error        text,
  duration_ms  integer not null check (duration_ms >= 0),
  created_at   timestamptz not null default clock_timestamp(),
  unique (delivery_id, attempt)
);
create index webhook_attempts_endpoint_idx on webhook_attempts (endpoint_id, id desc);
