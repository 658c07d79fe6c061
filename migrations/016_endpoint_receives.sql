-- 016: one rule for "this endpoint receives events of this type" (enabled, not deleted, subscribed
-- to the type or to '*'), used by the posting engine (an event nobody can receive is written
-- dispatched), the dispatcher and redelivery, instead of three copies of the condition. A plain
-- SQL expression, so the planner inlines it and the callers' own conditions keep their indexes.
create function webhook_endpoint_receives(w webhook_endpoints, event_type text) returns boolean
  language sql immutable
  return w.enabled and w.deleted_at is null and (w.events @> array[event_type] or w.events @> array['*']);
