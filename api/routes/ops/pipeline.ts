import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { Principal, Services } from "../../../shared/context.ts";
import { ForbiddenError, isDomainError, UnauthorizedError } from "../../../shared/errors.ts";
import {
  listOperations,
  type OperationObject,
  type PartitionBacklog,
  pipelineGauges,
  resolveOperation,
  retryOperation,
} from "../../../shared/payments/operations.ts";
import { type FailingEndpoint, failingEndpoints } from "../../../shared/webhooks/endpoints.ts";
import type { App, AppEnv } from "../../env.ts";
import { problemResponse } from "../../problem.ts";
import { principalOf, sameOrigin } from "./dashboard-auth.ts";

const BASE = "/ops/pipeline";

/**
 * The pipeline page, next to the queue board: what Postgres says waits (backlog per partition),
 * the set-aside operations with retry and resolve (admin), and the webhook endpoints that fail.
 * Server-rendered, no script; the same sign-in as /ops/queues; forms are same-origin only.
 */
export function registerPipelinePage(app: App, services: Services): void {
  const signIn = async (c: Context<AppEnv>, roles: Principal["role"][]) => {
    const principal = await principalOf(c, services);
    if (!roles.includes(principal.role)) throw new ForbiddenError();
    return principal;
  };
  const unauthorized = (c: Context<AppEnv>) =>
    problemResponse(c, {
      status: 401,
      code: "unauthorized",
      detail: "Sign in as an ops or admin user.",
      headers: { "WWW-Authenticate": 'Basic realm="ops", charset="UTF-8"' },
    });

  app.get(BASE, async (c) => {
    let principal: Principal;
    try {
      principal = await signIn(c, ["ops", "admin"]);
    } catch (err) {
      if (err instanceof UnauthorizedError) return unauthorized(c);
      throw err;
    }
    const [gauges, setAside, failing] = await Promise.all([
      pipelineGauges(services),
      listOperations(services.sql, { status: "failed", limit: 100 }),
      failingEndpoints(services.sql),
    ]);
    const notice = c.req.query("notice");
    return c.html(
      page({ principal, backlog: gauges.backlog, setAside: setAside.data, failing, notice, gauges }),
      200,
      {
        "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      },
    );
  });

  app.post(`${BASE}/operations/:id/:verb{retry|resolve}`, async (c) => {
    let principal: Principal;
    try {
      if (!sameOrigin(c)) {
        throw new ForbiddenError("cross_site_request", "Cross-site requests to the dashboard are refused.");
      }
      principal = await signIn(c, ["admin"]);
    } catch (err) {
      if (err instanceof UnauthorizedError) return unauthorized(c);
      throw err;
    }
    const form = await c.req.parseBody();
    const key = typeof form.idempotency_key === "string" ? form.idempotency_key : "";
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    const id = c.req.param("id");
    const verb = c.req.param("verb");
    const ctx = { ...services, principal, log: c.get("log") };
    const req = { key, method: "POST", path: c.req.path, body: verb === "resolve" ? { reason } : {} };
    let notice: string;
    try {
      if (verb === "retry") {
        await retryOperation(ctx, id, req, c.get("requestId"));
        notice = `Operation ${id} is pending again.`;
      } else {
        if (reason.length === 0 || reason.length > 500)
          throw new Error("A reason of 1 to 500 characters is required.");
        await resolveOperation(ctx, id, reason, req, c.get("requestId"));
        notice = `Operation ${id} is resolved.`;
      }
    } catch (err) {
      if (!isDomainError(err) && !(err instanceof Error && err.message.startsWith("A reason"))) throw err;
      notice = `Not done: ${(err as Error).message}`;
    }
    return c.redirect(`${BASE}?notice=${encodeURIComponent(notice)}`, 303);
  });
}

const escapeHtml = (value: unknown) =>
  String(value ?? "").replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );

const age = (seconds: number | null) =>
  seconds === null ? "-" : seconds < 120 ? `${seconds.toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;

function page(p: {
  principal: Principal;
  backlog: PartitionBacklog[];
  setAside: OperationObject[];
  failing: FailingEndpoint[];
  notice: string | undefined;
  gauges: { webhooksPending: number; webhookOldestPendingSeconds: number };
}): string {
  const admin = p.principal.role === "admin";
  const rows = (cells: string[][]) =>
    cells.map((r) => `<tr>${r.map((cell) => `<td>${cell}</td>`).join("")}</tr>`).join("");
  const actions = (op: OperationObject) =>
    admin
      ? `<form method="post" action="${BASE}/operations/${escapeHtml(op.id)}/retry">
           <input type="hidden" name="idempotency_key" value="${randomUUID()}"><button>Retry</button></form>
         <form method="post" action="${BASE}/operations/${escapeHtml(op.id)}/resolve">
           <input type="hidden" name="idempotency_key" value="${randomUUID()}">
           <input name="reason" required maxlength="500" placeholder="reason"><button>Resolve</button></form>`
      : "admin only";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payments pipeline</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}form{display:inline}
.notice{background:#ffe;border:1px solid #cc9;padding:6px}</style></head><body>
<h1>Payments pipeline</h1>
<p>Signed in as ${escapeHtml(p.principal.role)}. <a href="/ops/queues">Queue board</a> · <a href="/metrics">Metrics</a></p>
${p.notice ? `<p class="notice">${escapeHtml(p.notice)}</p>` : ""}
<h2>Posting backlog</h2>
<table><tr><th>Partition</th><th>Pending</th><th>Oldest pending</th><th>Last drained</th></tr>
${rows(p.backlog.map((b) => [String(b.partition), String(b.pending), age(b.oldest_pending_seconds), escapeHtml(b.last_drained_at ?? "never")]))}
</table>
<h2>Set-aside operations (${p.setAside.length})</h2>
<table><tr><th>Operation</th><th>Kind</th><th>Payment</th><th>Refund</th><th>Error</th><th>Set aside at</th><th>Retries</th><th></th></tr>
${rows(p.setAside.map((o) => [escapeHtml(o.id), escapeHtml(o.kind), escapeHtml(o.payment_id ?? o.payout_id ?? ""), escapeHtml(o.refund_id ?? ""), escapeHtml(o.error), escapeHtml(o.set_aside_at), String(o.retries), actions(o)]))}
</table>
<h2>Webhooks</h2>
<p>${p.gauges.webhooksPending} deliveries pending, oldest ${age(p.gauges.webhooksPending ? p.gauges.webhookOldestPendingSeconds : null)}.</p>
<table><tr><th>Failing endpoint</th><th>URL</th><th>Owner</th><th>Failed (24 h)</th><th>Retrying</th><th>Last error</th><th>Last attempt</th></tr>
${rows(p.failing.map((e) => [escapeHtml(e.id), escapeHtml(e.url), escapeHtml(e.user_id), String(e.failed), String(e.retrying), escapeHtml(e.last_error), escapeHtml(e.last_at.toISOString())]))}
</table>
</body></html>`;
}
