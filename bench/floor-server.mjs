// The floor server of `npm run bench:floor`: the least an HTTP service in front of Postgres does
// per payment request, on the app's own stack (hono on @hono/node-server, postgres.js). It parses
// the JSON body, makes one durable write and answers 202 with JSON. No authentication, validation,
// idempotency, ledger, queue or event. Requests arriving while a write is in flight are written
// together (group commit, at most two transactions at a time, no window), as the app gathers its
// acceptances. Plain JavaScript run by plain `node`, as the app runs.
//
// Environment: DATABASE_URL (its table is created here), PORT.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import postgres from "postgres";

process.title = "payments-floor";
const sql = postgres(process.env.DATABASE_URL, { max: 4, onnotice: () => {} });
await sql`
  create table if not exists floor_requests (
    id bigserial primary key,
    body jsonb not null,
    created_at timestamptz not null default now()
  )`;

const MAX_IN_FLIGHT = 2;
let waiting = [];
let inFlight = 0;

async function flush() {
  if (inFlight >= MAX_IN_FLIGHT || waiting.length === 0) return;
  const group = waiting;
  waiting = [];
  inFlight++;
  try {
    const rows = await sql`
      insert into floor_requests (body)
      select * from unnest(${group.map((w) => w.body)}::jsonb[])
      returning id`;
    group.forEach((w, i) => {
      w.resolve(rows[i].id);
    });
  } catch (err) {
    for (const w of group) w.reject(err);
  }
  inFlight--;
  flush();
}

function write(body) {
  return new Promise((resolve, reject) => {
    waiting.push({ body, resolve, reject });
    setImmediate(flush);
  });
}

const app = new Hono();
app.get("/ready", (c) => c.text("ok"));
app.post("/api/v1/payments", async (c) => {
  const body = await c.req.json();
  const id = await write(JSON.stringify(body));
  return c.json({ id: `req_${id}`, status: "pending", amount: body.amount, currency: body.currency }, 202);
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" });
process.on("SIGTERM", () => {
  server.close();
  sql.end({ timeout: 5 }).finally(() => process.exit(0));
});
