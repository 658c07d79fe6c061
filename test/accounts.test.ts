import { describe, expect, it } from "vitest";
import { newId } from "../shared/ids.ts";
import { post, systemAccountNumber } from "../shared/ledger/index.ts";
import { fund, makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";
import { expectLedgerHealthy } from "./support/db.ts";

const t = await useApp();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Authorizes `amount` of the account's money into the holds account, as a manual-capture payment does. */
async function hold(accountNumber: string, currency: string, amount: bigint): Promise<void> {
  await t.services.sql.begin((tx) =>
    post(tx, {
      kind: "authorization",
      reference: `test-hold:${newId("op")}`,
      legs: [
        { account: accountNumber, direction: "DEBIT", amount },
        { account: systemAccountNumber("holds", currency), direction: "CREDIT", amount },
      ],
      holdChanges: [{ account: accountNumber, delta: amount }],
    }),
  );
}

const get = (path: string, user?: TestUser | string) =>
  t.request("GET", path, { token: typeof user === "string" ? user : user?.token });

describe("POST /accounts", () => {
  it("opens another wallet for the caller", async () => {
    const u = await makeUser(t.services);
    const res = await t.request("POST", "/api/v1/accounts", { token: u.token, body: { currency: "EUR" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: "account",
      owner_id: u.id,
      currency: "EUR",
      balance: "0.00",
      available_balance: "0.00",
      held_balance: "0.00",
    });
    expect(res.body.account_number).toMatch(/^ACC_[0-9A-Z]{16}$/);
    const kwd = await t.request("POST", "/api/v1/accounts", { token: u.token, body: { currency: "KWD" } });
    expect(kwd.body.balance).toBe("0.000");
  });

  it("merchants and admins may open wallets; ops may not (403)", async () => {
    for (const role of ["merchant", "admin"] as const) {
      const u = await makeUser(t.services, { role });
      const res = await t.request("POST", "/api/v1/accounts", { token: u.token, body: { currency: "GBP" } });
      expect(res.status).toBe(201);
    }
    const ops = await makeUser(t.services, { role: "ops" });
    expectProblem(
      await t.request("POST", "/api/v1/accounts", { token: ops.token, body: { currency: "GBP" } }),
      403,
      "forbidden",
    );
  });

  it.each([[{}], [{ currency: "usd" }], [{ currency: "XXX" }], [{ currency: "" }], [{ currency: ["USD"] }]])(
    "%j -> 422 at /currency",
    async (body) => {
      const u = await makeUser(t.services);
      expectFieldError(await t.request("POST", "/api/v1/accounts", { token: u.token, body }), "/currency");
    },
  );

  it("no token -> 401", async () => {
    expectProblem(await t.request("POST", "/api/v1/accounts", { body: { currency: "USD" } }), 401);
  });
});

describe("GET /accounts", () => {
  it("lists only the caller's accounts, newest first, cursor paginated", async () => {
    const u = await makeUser(t.services);
    await makeUser(t.services); // someone else, not listed
    const opened = [u.account.account_number];
    for (const currency of ["EUR", "JPY", "GBP"]) {
      const res = await t.request("POST", "/api/v1/accounts", { token: u.token, body: { currency } });
      opened.push(res.body.account_number);
    }
    const newestFirst = [...opened].reverse();
    const all = await get("/api/v1/accounts", u);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(all.body.data.map((a: any) => a.account_number)).toEqual(newestFirst);
    expect(all.body.data.every((a: any) => a.owner_id === u.id)).toBe(true);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await get(`/api/v1/accounts?limit=1${cursor ? `&cursor=${cursor}` : ""}`, u);
      expect(page.status).toBe(200);
      expect(page.body.data).toHaveLength(1);
      seen.push(page.body.data[0].account_number);
      cursor = page.body.next_cursor;
      expect(page.body.has_more).toBe(cursor !== null);
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(newestFirst);
  });

  it("ops and admin list every account, system accounts included", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    await makeUser(t.services);
    const res = await get("/api/v1/accounts?limit=100", ops);
    expect(res.status).toBe(200);
    expect(res.body.data.some((a: any) => a.owner_id !== ops.id)).toBe(true);
    // Page through everything: system accounts are among them, and no page repeats an account.
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let i = 0; i < 200; i++) {
      const page: any = await get(`/api/v1/accounts?limit=100${cursor ? `&cursor=${cursor}` : ""}`, ops);
      for (const a of page.body.data) {
        expect(seen.has(a.account_number)).toBe(false);
        seen.add(a.account_number);
      }
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen.has(systemAccountNumber("external", "USD"))).toBe(true);
    expect(seen.has(ops.account.account_number)).toBe(true);
  });

  it("a customer's list never shows system accounts", async () => {
    const u = await makeUser(t.services);
    const res = await get("/api/v1/accounts?limit=100", u);
    expect(res.body.data.some((a: any) => a.account_number.startsWith("SYS_"))).toBe(false);
  });

  it.each([
    ["?limit=0", "/query/limit"],
    ["?limit=101", "/query/limit"],
    ["?limit=abc", "/query/limit"],
    ["?cursor=garbage", "/query/cursor"],
    ["?cursor=MTIzLkFDQ18", "/query/cursor"], // "123.ACC_" decoded: right shape, no account number
  ])("%s -> 422 at %s", async (query, pointer) => {
    const u = await makeUser(t.services);
    const res = await get(`/api/v1/accounts${query}`, u);
    expectFieldError(res, pointer);
  });

  it("no token -> 401", async () => {
    expectProblem(await get("/api/v1/accounts"), 401);
  });
});

describe("GET /accounts/{account_number}", () => {
  it("shows balances: available = entries, held = authorized, balance = both", async () => {
    const u = await makeUser(t.services, { balance: 10_000n });
    await hold(u.account.account_number, "USD", 2_500n);
    const res = await get(`/api/v1/accounts/${u.account.account_number}`, u);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      account_number: u.account.account_number,
      object: "account",
      owner_id: u.id,
      currency: "USD",
      balance: "100.00",
      available_balance: "75.00",
      held_balance: "25.00",
      status: "active",
      created_at: u.account.created_at.toISOString(),
    });
    await expectLedgerHealthy(t.services.sql);
  });

  it("someone else's account, an unknown one and a system one -> 404 for a customer", async () => {
    const u = await makeUser(t.services);
    const other = await makeUser(t.services);
    for (const n of [
      other.account.account_number,
      "ACC_DOESNOTEXIST0000",
      systemAccountNumber("holds", "USD"),
    ]) {
      expectProblem(await get(`/api/v1/accounts/${n}`, u), 404, "resource_missing");
    }
  });

  it("ops and admin see any account, system ones included", async () => {
    const other = await makeUser(t.services, { balance: 500n });
    for (const role of ["ops", "admin"] as const) {
      const staff = await makeUser(t.services, { role });
      const res = await get(`/api/v1/accounts/${other.account.account_number}`, staff);
      expect(res.status).toBe(200);
      expect(res.body.balance).toBe("5.00");
      const sys = await get(`/api/v1/accounts/${systemAccountNumber("external", "USD")}`, staff);
      expect(sys.status).toBe(200);
      expect(sys.body).toMatchObject({ owner_id: null, currency: "USD" });
    }
  });

  it("an API key acts for its owner", async () => {
    const m = await makeUser(t.services, { role: "merchant", balance: 700n });
    const key = (await t.request("POST", "/api/v1/api-keys", { token: m.token })).body.key;
    const res = await get(`/api/v1/accounts/${m.account.account_number}`, key);
    expect(res.body.balance).toBe("7.00");
  });

  it("account number too long -> 422; no token -> 401", async () => {
    const u = await makeUser(t.services);
    expectFieldError(await get(`/api/v1/accounts/ACC_${"X".repeat(80)}`, u), "/param/account_number");
    expectProblem(await get(`/api/v1/accounts/${u.account.account_number}`), 401);
  });
});

describe("GET /accounts/{account_number}/balance", () => {
  it("now, and as it stood at past instants", async () => {
    const u = await makeUser(t.services, { currency: "EUR" });
    const n = u.account.account_number;
    const [before] = await t.services.sql<{ now: Date }[]>`select clock_timestamp() as now`;
    await sleep(5);
    await fund(t.services, n, "EUR", 1_000n);
    await sleep(5);
    const [middle] = await t.services.sql<{ now: Date }[]>`select clock_timestamp() as now`;
    await sleep(5);
    await fund(t.services, n, "EUR", 234n);
    await hold(n, "EUR", 200n);

    const now = await get(`/api/v1/accounts/${n}/balance`, u);
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({
      account_number: n,
      currency: "EUR",
      balance: "12.34",
      available_balance: "10.34",
      held_balance: "2.00",
    });
    expect(Math.abs(Date.parse(now.body.as_of) - Date.now())).toBeLessThan(60_000);

    const at = async (d: Date) =>
      (await get(`/api/v1/accounts/${n}/balance?at=${encodeURIComponent(d.toISOString())}`, u)).body;
    expect(await at(before!.now)).toMatchObject({
      balance: "0.00",
      available_balance: "0.00",
      held_balance: "0.00",
    });
    const mid = await at(middle!.now);
    expect(mid).toMatchObject({ balance: "10.00", available_balance: "10.00", held_balance: "0.00" });
    expect(mid.as_of).toBe(middle!.now.toISOString());

    // An offset other than Z is fine; a future instant is answered as of now.
    const offset = middle!.now.toISOString().replace("Z", "+00:00");
    expect((await get(`/api/v1/accounts/${n}/balance?at=${encodeURIComponent(offset)}`, u)).status).toBe(200);
    const future = await at(new Date(Date.now() + 86_400_000));
    expect(future).toMatchObject({ balance: "12.34", held_balance: "2.00" });
    expect(Date.parse(future.as_of)).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it.each([["yesterday"], ["2025-13-01T00:00:00Z"], ["2025-01-01"], ["2025-01-01T00:00:00"], ["1700000000"]])(
    "at=%s -> 422 at /query/at",
    async (bad) => {
      const u = await makeUser(t.services);
      const res = await get(
        `/api/v1/accounts/${u.account.account_number}/balance?at=${encodeURIComponent(bad)}`,
        u,
      );
      expectFieldError(res, "/query/at");
    },
  );

  it("someone else's -> 404 (ops sees it); no token -> 401", async () => {
    const u = await makeUser(t.services);
    const other = await makeUser(t.services);
    expectProblem(await get(`/api/v1/accounts/${other.account.account_number}/balance`, u), 404);
    const ops = await makeUser(t.services, { role: "ops" });
    expect((await get(`/api/v1/accounts/${other.account.account_number}/balance`, ops)).status).toBe(200);
    expectProblem(await get(`/api/v1/accounts/${u.account.account_number}/balance`), 401);
  });
});

describe("GET /accounts/{account_number}/history", () => {
  it("lists the account's entries newest first, paginated", async () => {
    const u = await makeUser(t.services, { currency: "JPY" });
    const n = u.account.account_number;
    await fund(t.services, n, "JPY", 100n);
    await fund(t.services, n, "JPY", 250n);
    await hold(n, "JPY", 50n);
    const res = await get(`/api/v1/accounts/${n}/history`, u);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(res.body.data.map((e: any) => [e.direction, e.amount, e.balance_after])).toEqual([
      ["DEBIT", "50", "300"],
      ["CREDIT", "250", "350"],
      ["CREDIT", "100", "100"],
    ]);
    const entry = res.body.data[1];
    expect(entry).toMatchObject({
      object: "ledger_entry",
      account_number: n,
      currency: "JPY",
      payment_id: null,
      refund_id: null,
      description: null,
    });
    expect(entry.entry_id).toMatch(/^le_\d+$/);
    expect(entry.transaction_id).toMatch(/^tx_/);
    expect(entry.created_at).toMatch(/Z$/);

    const first = await get(`/api/v1/accounts/${n}/history?limit=2`, u);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.has_more).toBe(true);
    const second = await get(`/api/v1/accounts/${n}/history?limit=2&cursor=${first.body.next_cursor}`, u);
    expect(second.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(second.body.data.map((e: any) => e.entry_id)).toEqual([res.body.data[2].entry_id]);
  });

  it("an account with no entries has an empty history", async () => {
    const u = await makeUser(t.services);
    const res = await get(`/api/v1/accounts/${u.account.account_number}/history`, u);
    expect(res.body).toEqual({ data: [], has_more: false, next_cursor: null });
  });

  it("errors: garbage cursor and bad limit 422, someone else's 404, no token 401", async () => {
    const u = await makeUser(t.services, { balance: 100n });
    const other = await makeUser(t.services, { balance: 100n });
    const path = `/api/v1/accounts/${u.account.account_number}/history`;
    const bad = await get(`${path}?cursor=not-a-cursor`, u);
    expectFieldError(bad, "/query/cursor");
    expect(bad.body.code).toBe("invalid_cursor");
    expectFieldError(await get(`${path}?limit=1000`, u), "/query/limit");
    expectProblem(await get(`/api/v1/accounts/${other.account.account_number}/history`, u), 404);
    expectProblem(await get(path), 401);
    const admin = await makeUser(t.services, { role: "admin" });
    expect((await get(path, admin)).body.data).toHaveLength(1);
  });
});

describe("GET /accounts/history", () => {
  it("merges the entries of all the caller's accounts, and only theirs, newest first", async () => {
    const u = await makeUser(t.services, { balance: 1_000n });
    const eur = (await t.request("POST", "/api/v1/accounts", { token: u.token, body: { currency: "EUR" } }))
      .body;
    await fund(t.services, eur.account_number, "EUR", 2_000n);
    await makeUser(t.services, { balance: 5_000n }); // someone else's entries
    const res = await get("/api/v1/accounts/history", u);
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: any) => [e.account_number, e.currency, e.amount])).toEqual([
      [eur.account_number, "EUR", "20.00"],
      [u.account.account_number, "USD", "10.00"],
    ]);
    const first = await get("/api/v1/accounts/history?limit=1", u);
    expect(first.body.has_more).toBe(true);
    const second = await get(`/api/v1/accounts/history?limit=1&cursor=${first.body.next_cursor}`, u);
    expect(second.body.data[0].account_number).toBe(u.account.account_number);
    expect(second.body.has_more).toBe(false);
  });

  it("is not taken for an account number; errors are 422 and 401", async () => {
    const u = await makeUser(t.services);
    expect((await get("/api/v1/accounts/history", u)).body).toEqual({
      data: [],
      has_more: false,
      next_cursor: null,
    });
    expectFieldError(await get("/api/v1/accounts/history?cursor=%25%25", u), "/query/cursor");
    expectFieldError(await get("/api/v1/accounts/history?limit=-1", u), "/query/limit");
    expectProblem(await get("/api/v1/accounts/history"), 401);
  });
});
