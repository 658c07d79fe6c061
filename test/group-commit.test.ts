import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { GroupCommit, type Outcome } from "../shared/group-commit.ts";
import { requestsInProgress } from "../shared/in-progress.ts";
import { queueNames } from "../shared/jobs.ts";
import { createRedis } from "../shared/redis.ts";
import { makeUser, useApp } from "./support/app.ts";
import { key, pay } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

/** A committer whose flushes are recorded and held until released. */
function recorder(
  opts: { windowMs?: number; maxSize?: number; maxInFlight?: number; busy?: () => boolean } = {},
) {
  const groups: number[][] = [];
  const held: (() => void)[] = [];
  const gc = new GroupCommit<number, number>(
    async (items) => {
      groups.push(items);
      await new Promise<void>((release) => held.push(release));
      return items.map(
        (n): Outcome<number> =>
          n < 0 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n * 10 },
      );
    },
    {
      windowMs: opts.windowMs ?? 0,
      maxSize: opts.maxSize ?? 100,
      maxInFlight: opts.maxInFlight ?? 1,
      busy: opts.busy,
    },
  );
  const releaseAll = () => {
    for (const r of held.splice(0)) r();
  };
  return { gc, groups, releaseAll };
}

describe("GroupCommit", () => {
  it("hands concurrent calls to one flush and answers each with its own outcome", async () => {
    const { gc, groups, releaseAll } = recorder();
    const calls = [1, 2, -3, 4].map((n) => gc.submit(n));
    await waitFor(async () => groups.length === 1 || null, { what: "one group" });
    releaseAll();
    const settled = await Promise.allSettled(calls);
    expect(groups).toEqual([[1, 2, -3, 4]]);
    expect(settled.map((s) => (s.status === "fulfilled" ? s.value : (s.reason as Error).message))).toEqual([
      10,
      20,
      "bad -3",
      40,
    ]);
  });

  it("forms the next group from what arrives while groups are in flight, up to maxInFlight", async () => {
    const { gc, groups, releaseAll } = recorder({ maxInFlight: 1 });
    const first = gc.submit(1);
    await waitFor(async () => groups.length === 1 || null, { what: "first group" });
    const later = [2, 3, 4].map((n) => gc.submit(n));
    await new Promise((r) => setTimeout(r, 20));
    expect(groups).toHaveLength(1); // the next group waits for the one in flight
    releaseAll();
    await first;
    await waitFor(async () => groups.length === 2 || null, { what: "second group" });
    releaseAll();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    expect(groups).toEqual([[1], [2, 3, 4]]);
  });

  it("does not keep a lone call on an idle process waiting for the window", async () => {
    const { gc, groups, releaseAll } = recorder({ windowMs: 60_000, busy: () => false });
    const call = gc.submit(1);
    // Started at the end of this event-loop turn, not a minute later.
    await new Promise((r) => setImmediate(r));
    expect(groups).toEqual([[1]]);
    releaseAll();
    expect(await call).toBe(10);
  });

  it("does not hold a call made straight from the previous group's answer for the window", async () => {
    // One caller after another, each calling again as soon as it is answered (in the same
    // microtask run): the group it came from is over, so nothing is committing and no company
    // can come. Held for the window, each of these calls would wait a minute.
    const gc = new GroupCommit<number, number>(async (items) => items.map((n) => ({ ok: true, value: n })), {
      windowMs: 60_000,
      maxSize: 100,
      maxInFlight: 2,
      busy: () => false,
    });
    const answers: number[] = [];
    for (let n = 1; n <= 5; n++) answers.push(await gc.submit(n));
    expect(answers).toEqual([1, 2, 3, 4, 5]);
  }, 5_000);

  it("waits the window for company while other work is in progress, and while a group commits", async () => {
    let busy = true;
    const { gc, groups, releaseAll } = recorder({ windowMs: 80, maxInFlight: 2, busy: () => busy });
    // Busy: the first call waits, and the one arriving within the window joins it.
    const first = gc.submit(1);
    await new Promise((r) => setTimeout(r, 20));
    const second = gc.submit(2);
    expect(groups).toEqual([]);
    await waitFor(async () => groups.length === 1 || null, { what: "the windowed group" });
    expect(groups).toEqual([[1, 2]]);
    // Nothing else in progress, but that group is still committing: the next one waits too.
    busy = false;
    const third = gc.submit(3);
    await new Promise((r) => setTimeout(r, 20));
    const fourth = gc.submit(4);
    expect(groups).toHaveLength(1);
    await waitFor(async () => groups.length === 2 || null, { what: "the second group" });
    expect(groups[1]).toEqual([3, 4]);
    releaseAll();
    expect(await Promise.all([first, second, third, fourth])).toEqual([10, 20, 30, 40]);
  });

  it("cuts groups at maxSize", async () => {
    const { gc, groups, releaseAll } = recorder({ maxSize: 3, maxInFlight: 4, windowMs: 50 });
    const calls = [1, 2, 3, 4, 5, 6, 7].map((n) => gc.submit(n));
    // Two full groups start at once, without waiting for the window; the rest after it.
    expect(groups).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await waitFor(async () => groups.length === 3 || null, { what: "the last group" });
    releaseAll();
    expect(await Promise.all(calls)).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(groups[2]).toEqual([7]);
  });

  it("fails every call of a group whose flush throws, and only those", async () => {
    let n = 0;
    const gc = new GroupCommit<string, string>(
      async (items) => {
        n += 1;
        if (n === 1) throw new Error("connection lost");
        return items.map((value) => ({ ok: true, value }));
      },
      { windowMs: 0, maxSize: 2, maxInFlight: 1 },
    );
    const first = Promise.allSettled([gc.submit("a"), gc.submit("b")]);
    const second = gc.submit("c");
    expect((await first).map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(await second).toBe("c");
  });
});

describe("group-commit acceptance through the API", async () => {
  // A wide window so that concurrent requests surely share a group.
  const t = await useApp({ ACCEPT_GROUP_WINDOW_MS: "25" });
  const alice = await makeUser(t.services, { balance: 100_000n });
  const bob = await makeUser(t.services);
  const euro = await makeUser(t.services, { currency: "EUR" });
  const body = (patch: Record<string, unknown> = {}) => ({
    from_account: alice.account.account_number,
    to_account: bob.account.account_number,
    amount: "1.00",
    currency: "USD",
    ...patch,
  });

  /** The transaction ids that wrote these payments: one group commits in one transaction. */
  async function writers(ids: string[]): Promise<Set<string>> {
    const rows = await t.services.sql<{ xid: string }[]>`
      select xmin::text as xid from payments where id = any(${ids}::text[])`;
    return new Set(rows.map((r) => r.xid));
  }

  it("commits concurrent payments in one transaction, each answered with its own payment", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pay(t, alice, body({ amount: `0.${String(i + 10)}` }))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(results.map((r) => r.body.amount)).toEqual(Array.from({ length: 20 }, (_, i) => `0.${i + 10}`));
    const ids = results.map((r) => r.body.id as string);
    expect(new Set(ids).size).toBe(20);
    expect((await writers(ids)).size).toBe(1);
    // Within the group, operations (posting order) follow the order the payments were accepted in.
    const ops = await t.services.sql<{ payment_id: string }[]>`
      select payment_id from operations where payment_id = any(${ids}::text[]) order by seq`;
    expect(ops.map((o) => o.payment_id)).toEqual([...ids].sort());
  });

  it("counts the requests in progress, and none once they are answered, refused ones included", async () => {
    const results = await Promise.all([
      pay(t, alice, body()),
      pay(t, alice, body({ amount: "-1" })),
      pay(t, alice, body(), null),
      t.request("GET", "/api/v1/payments/pay_nope", { token: alice.token }),
    ]);
    expect(results.map((r) => r.status)).toEqual([202, 422, 400, 404]);
    expect(requestsInProgress.count).toBe(0);
  });

  it("writes a request's payment, operation and idempotency record in one transaction with its key lock", async () => {
    const k = key();
    const res = await pay(t, alice, body({ amount: "1.11" }), k);
    expect(res.status).toBe(202);
    const [row] = await t.services.sql<{ payment: string; op: string; record: string }[]>`
      select (select xmin::text from payments where id = ${res.body.id}) as payment,
             (select xmin::text from operations where payment_id = ${res.body.id} and kind = 'payment') as op,
             (select xmin::text from idempotency_keys where principal = ${alice.id} and key = ${k}) as record`;
    expect(row!.op).toBe(row!.payment);
    expect(row!.record).toBe(row!.payment);
  });

  it("holds each key's lock until its group commits, so no other process can take the key meanwhile", async () => {
    const k = key();
    // Hold the group between its reads and its COMMIT: its idempotency insert waits on this lock.
    const blocker = await t.services.sql.reserve();
    try {
      await blocker`begin`;
      await blocker`lock table idempotency_keys in share row exclusive mode`;
      const pending = pay(t, alice, body({ amount: "1.12" }), k);
      await waitFor(
        async () => {
          const rows = await t.services.sql`
            select 1 from pg_stat_activity
             where wait_event_type = 'Lock' and query ilike '%insert into idempotency_keys%'`;
          return rows.length > 0 || null;
        },
        { what: "the group to wait on its idempotency insert" },
      );
      // Another process asking for the key now must find it taken.
      const [probe] = await t.services.sql<[{ ok: boolean }]>`
        select pg_try_advisory_xact_lock(hashtextextended(${`${alice.id}\n${k}`}, 0)) as ok`;
      expect(probe.ok).toBe(false);
      await blocker`commit`;
      expect((await pending).status).toBe(202);
    } finally {
      await blocker`rollback`.catch(() => {});
      blocker.release();
    }
  });

  // (Other test files' workers may post these payments meanwhile: only what posting never
  // changes is compared with the database.)
  it("answers each request with its payment exactly as stored", async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        pay(t, alice, body({ amount: `1.0${i}`, description: `n${i}`, metadata: { i: String(i) } })),
      ),
    );
    for (const r of results) {
      expect(r.status).toBe(202);
      const [row] = await t.services.sql<
        { created_at: Date; amount: bigint; description: string }[]
      >`select created_at, amount, description from payments where id = ${r.body.id}`;
      expect(row!.created_at.toISOString()).toBe(r.body.created_at);
      expect(r.body).toMatchObject({ status: "pending", updated_at: r.body.created_at, completed_at: null });
      expect(String(row!.amount)).toBe(r.body.amount.replace(".", ""));
      expect(row!.description).toBe(r.body.description);
      const read = await t.request("GET", `/api/v1/payments/${r.body.id}`, { token: alice.token });
      expect(read.body).toMatchObject({
        id: r.body.id,
        created_at: r.body.created_at,
        amount: r.body.amount,
        metadata: r.body.metadata,
        from_account: r.body.from_account,
        to_account: r.body.to_account,
      });
    }
  });

  it("answers the same key twice in one group as two concurrent requests: one 202, one 409, one payment", async () => {
    const k = key();
    const results = await Promise.all(Array.from({ length: 6 }, () => pay(t, alice, body(), k)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409]);
    for (const r of results.filter((r) => r.status === 409))
      expect(r.body.code).toBe("idempotency_key_in_use");
    const [{ n }] = await t.services.sql<[{ n: number }]>`
      select count(*)::int as n from idempotency_keys where principal = ${alice.id} and key = ${k}`;
    expect(n).toBe(1);
    const created = results.find((r) => r.status === 202)!;
    const replay = await pay(t, alice, body(), k);
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(created.body);
  });

  it("with one key and two different bodies in one group, accepts one and refuses the other", async () => {
    const k = key();
    const [a, b] = await Promise.all([
      pay(t, alice, body({ amount: "2.00" }), k),
      pay(t, alice, body({ amount: "3.00" }), k),
    ]);
    expect([a!.status, b!.status].sort()).toEqual([202, 409]);
    const loser = a!.status === 409 ? "2.00" : "3.00";
    const retry = await pay(t, alice, body({ amount: loser }), k);
    expect(retry.status).toBe(422);
    expect(retry.body.code).toBe("idempotency_key_reused");
  });

  it("serves replays and refuses bad items in a group without failing the others", async () => {
    const done = key();
    const first = await pay(t, alice, body({ amount: "4.00" }), done);
    const results = await Promise.all([
      pay(t, alice, body({ amount: "5.00" })),
      pay(t, alice, body({ to_account: "ACC_DOESNOTEXIST" })),
      pay(t, alice, body({ to_account: euro.account.account_number })),
      pay(
        t,
        alice,
        body({ from_account: bob.account.account_number, to_account: alice.account.account_number }),
      ),
      pay(t, alice, body({ amount: "4.00" }), done),
      pay(t, alice, body({ amount: "6.00" })),
    ]);
    expect(results.map((r) => [r.status, r.body.code ?? r.body.amount])).toEqual([
      [202, "5.00"],
      [404, "account_not_found"],
      [422, "currency_mismatch"],
      [404, "account_not_found"],
      [202, "4.00"],
      [202, "6.00"],
    ]);
    expect(results[4]!.headers.get("idempotent-replayed")).toBe("true");
    expect(results[4]!.body).toEqual(first.body);
    expect((await writers([results[0]!.body.id, results[5]!.body.id])).size).toBe(1);
  });

  it("isolates an item that breaks the group's statements: it alone fails, the others are accepted", async () => {
    const poisoned = key();
    const results = await Promise.all([
      pay(t, alice, body({ amount: "7.00" })),
      // Valid JSON that Postgres refuses to store in jsonb: a lone UTF-16 surrogate.
      pay(t, alice, body({ metadata: { note: "x\ud800y" } }), poisoned),
      pay(t, alice, body({ amount: "8.00" })),
    ]);
    expect(results.map((r) => r.status)).toEqual([202, 400, 202]);
    expect(results[1]!.body.code).toBe("invalid_value");
    const [{ n }] = await t.services.sql<[{ n: number }]>`
      select count(*)::int as n from idempotency_keys where principal = ${alice.id} and key = ${poisoned}`;
    expect(n).toBe(0);
    // The key was not used: the corrected request goes through with it.
    const fixed = await pay(t, alice, body({ metadata: { note: "xy" } }), poisoned);
    expect(fixed.status).toBe(202);
  });
});

describe("posting nudges", async () => {
  // A queue namespace of its own: no other test file's workers take these jobs.
  const t = await useApp({ POSTING_PARTITIONS: "2", QUEUE_PREFIX: `${process.env.QUEUE_PREFIX}-nudges` });
  const { queues, config } = t.services;

  it("coalesce: one job waits per partition, and a nudge during a drain leaves exactly one more to run", async () => {
    const partition = 1;
    const queue = queues.postings[partition]!;
    await queue.obliterate({ force: true });
    const started: string[] = [];
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => {
      releaseFirst = r;
    });
    const connection = createRedis(config.REDIS_URL, "worker");
    const worker = new Worker(
      queueNames.posting(partition),
      async (job) => {
        started.push(job.id!);
        if (started.length === 1) await firstHeld; // a drain that is past its last claim
      },
      { connection, prefix: config.QUEUE_PREFIX, concurrency: 1 },
    );
    try {
      await queues.nudgePosting(partition);
      await waitFor(async () => started.length === 1 || null, { what: "the first drain to start" });
      // Work commits while the drain runs: nudges from many requests.
      await Promise.all(Array.from({ length: 25 }, () => queues.nudgePosting(partition)));
      await queues.nudgePosting(partition);
      const counts = await queue.getJobCounts("waiting", "active", "delayed");
      expect(counts.active).toBe(1);
      expect((counts.waiting ?? 0) + (counts.delayed ?? 0)).toBeLessThanOrEqual(1);
      releaseFirst();
      // The nudge during the drain is not lost: exactly one more drain runs after it.
      await waitFor(async () => started.length === 2 || null, { what: "the follow-up drain" });
      await new Promise((r) => setTimeout(r, 300));
      expect(started).toHaveLength(2);
      expect(await queue.getJobCounts("waiting", "active")).toEqual({ waiting: 0, active: 0 });
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });

  it("answers do not wait for the nudge: one Redis never acknowledges still lets the 202 out, after COMMIT", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const nudge = queues.nudgePosting;
    const asked: { partition: number; committed: number }[] = [];
    queues.nudgePosting = async (partition) => {
      // What the nudge covers is committed before it is sent.
      const [row] = await t.services.sql<{ n: number }[]>`
        select count(*)::int as n from payments where from_account = ${alice.account.account_number}`;
      asked.push({ partition, committed: row!.n });
      return new Promise<void>(() => {}); // never acknowledged
    };
    try {
      const res = await pay(t, alice, {
        from_account: alice.account.account_number,
        to_account: bob.account.account_number,
        amount: "1.00",
        currency: "USD",
      });
      expect(res.status).toBe(202);
      await waitFor(async () => asked.length === 1 || null, { what: "the nudge after commit" });
      expect(asked).toEqual([{ partition: expect.any(Number), committed: 1 }]);
    } finally {
      queues.nudgePosting = nudge;
    }
  });
});
