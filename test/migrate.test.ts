import postgres from "postgres";
import { afterAll, expect, it } from "vitest";
import { createSql, ensureDatabase } from "../shared/db/index.ts";
import { listMigrations, migrate } from "../shared/db/migrate.ts";
import { testConfig } from "./support/db.ts";

const base = new URL(testConfig().DATABASE_URL);
const url = new URL(base);
url.pathname = `${base.pathname}_migrate`;

afterAll(async () => {
  const adminUrl = new URL(base);
  adminUrl.pathname = "/postgres";
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  await admin`drop database if exists ${admin(url.pathname.slice(1))} with (force)`;
  await admin.end();
});

it("two migrators started at once apply each migration exactly once", async () => {
  await ensureDatabase(url.toString());
  await ensureDatabase(url.toString()); // idempotent
  const a = createSql(url.toString(), { max: 1 });
  const b = createSql(url.toString(), { max: 1 });
  const [first, second] = await Promise.all([migrate(a), migrate(b)]);
  const all = (await listMigrations()).map((m) => m.name);
  // One of them applied everything; the other waited on the lock and found nothing to do.
  expect([...(first ?? []), ...(second ?? [])].sort()).toEqual(all.sort());
  expect(Math.min(first.length, second.length)).toBe(0);
  const rows = await a`select id, count(*)::int as n from schema_migrations group by id`;
  expect(rows.every((r) => r.n === 1)).toBe(true);
  expect(await migrate(a)).toEqual([]);
  await Promise.all([a.end(), b.end()]);
});
