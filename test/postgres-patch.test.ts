import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { dirname, join } from "node:path";
import postgres from "postgres";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { testConfig } from "./support/db.ts";

// postgres 3.4.9 is patched (patches/postgres+3.4.9.patch, applied by patch-package on install).
// Unpatched, a query on a connection whose socket had closed was written from a setImmediate to a
// null socket: an uncatchable TypeError that killed the process (porsager/postgres#1154, #1066,
// #1208); a socket closed with a write still buffered left its connection unable to flush ever
// again (LanternOps/breeze#3225); and, on the same close path, queries and reserve() calls could
// wait forever. Each test below fails on the unpatched package, against a real Postgres.

const url = new URL(testConfig().DATABASE_URL);
const MARKER = "payments-patch";

type Settled =
  | { status: "resolved"; value: unknown }
  | { status: "rejected"; error: unknown }
  | { status: "pending" };

/** How `promise` settles within `ms`: "pending" when it has not by then. */
function settleWithin(promise: PromiseLike<unknown>, ms: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ status: "pending" }), ms);
  });
  const settled = Promise.resolve(promise).then(
    (value): Settled => ({ status: "resolved", value }),
    (error): Settled => ({ status: "rejected", error }),
  );
  return Promise.race([settled, pending]).finally(() => clearTimeout(timer));
}

/**
 * A query the test kills, observed from the start: on a loaded machine the killed backend's close
 * can arrive before pg_terminate_backend's own answer, so the query is rejected before the test
 * awaits it, and would count as an unhandled rejection of the test's own making. (The test still
 * reads how it settled; only the rejections of postgres.js's own internals land in `uncaught`.)
 */
function killedLater<T extends Promise<unknown>>(query: T): T {
  query.catch(() => {});
  return query;
}

const closedError = { status: "rejected", error: expect.objectContaining({ code: "CONNECTION_CLOSED" }) };
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

// Pools opened by a test are closed after it; `timeout` bounds the end of one the bug left hanging.
// An uncaught exception (from a postgres.js immediate) or unhandled rejection lands in `uncaught`
// (vitest reports it as well) and fails the test.
const pools: postgres.Sql[] = [];
// Terminates the backends of the pools under test (pg_terminate_backend), as a Postgres restart would.
const killer = postgres(url.toString(), { max: 1, onnotice: () => {} });
afterAll(() => killer.end({ timeout: 1 }));
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);
afterEach(async () => {
  process.off("uncaughtException", onUncaught);
  process.off("unhandledRejection", onUncaught);
  await Promise.all(pools.splice(0).map((sql) => sql.end({ timeout: 1 })));
  const errors = uncaught.splice(0).map(String);
  expect(errors, "uncaught exceptions or unhandled rejections").toEqual([]);
});

/**
 * A one-connection pool (with `socket()`, the last TCP socket it opened, to close at will, and
 * `route.port`, where it opens the next), and a promise that resolves when it closes a connection.
 */
function onePool(
  extra: { debug?: (connection: number, query: string) => void; connect_timeout?: number } = {},
) {
  let closed!: () => void;
  const onClose = new Promise<void>((resolve) => {
    closed = resolve;
  });
  let last: net.Socket | undefined;
  const route = { port: Number(url.port || 5432) };
  const options = {
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
    onclose: () => closed(),
    // postgres.js's own socket option: a real TCP connection to Postgres, kept at hand.
    socket: () => {
      last = net.connect({ host: url.hostname, port: route.port });
      return last;
    },
    ...extra,
  };
  const sql = postgres(url.toString(), options);
  pools.push(sql);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  return { sql, onClose, socket: () => last!, route };
}

/** Queries on the pool, one after the other: each must answer, not hang or fail. */
async function expectPoolWorks(sql: postgres.Sql, count = 2) {
  for (let i = 0; i < count; i++) {
    const outcome = await settleWithin(sql`select ${i}::int as i`, 1500);
    expect(outcome).toEqual({ status: "resolved", value: [{ i }] });
  }
}

describe("postgres.js 3.4.9 patch", () => {
  it("is in every copy of postgres.js that Node may load (the ESM and CommonJS builds)", () => {
    const require = createRequire(import.meta.url);
    // The CommonJS entry (cjs/src/index.js) lies two folders below the package root.
    const root = join(dirname(require.resolve("postgres")), "..", "..");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.version, "patches/postgres+3.4.9.patch is for 3.4.9 only: pin postgres").toBe("3.4.9");
    // `import "postgres"` loads exports.import (src/), require() exports.default (cjs/src/).
    const entries = [pkg.exports.import, pkg.exports.default, pkg.exports.workerd] as string[];
    expect(entries).toEqual(["./src/index.js", "./cjs/src/index.js", "./cf/src/index.js"]);
    for (const entry of entries) {
      for (const file of ["index.js", "connection.js"]) {
        const path = join(root, dirname(entry), file);
        expect(
          readFileSync(path, "utf8").includes(MARKER),
          `${path} is unpatched: did npm install/ci run the "postinstall": "patch-package" script?`,
        ).toBe(true);
      }
    }
  });

  it("rejects a transaction's query after its connection closed, instead of crashing, and the pool works on", async () => {
    const { sql, onClose } = onePool();
    let late!: (query: { promise: Promise<unknown> }) => void;
    const lateQuery = new Promise<{ promise: Promise<unknown> }>((resolve) => {
      late = resolve;
    });
    const transaction = sql.begin(async (tx) => {
      const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
      await killer`select pg_terminate_backend(${row!.pid})`;
      await onClose;
      // The connection has no socket now. Unpatched, this write goes out from a setImmediate to
      // the null socket: "Cannot read properties of null (reading 'write')", uncaught. The
      // parameter makes upstream file the dead connection as full: the pool must still reconnect it.
      const promise = tx`select ${"after the close"}::text as late`.execute();
      late({ promise });
      await promise;
    });
    await expect(transaction).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    const { promise } = await lateQuery;
    const outcome = await settleWithin(promise, 1000);
    expect(uncaught.map(String)).toEqual([]);
    expect(outcome).toEqual(closedError);
    await expectPoolWorks(sql);
  });

  it("rejects a reserved connection's query after it closed, and release() leaves it to the pool", async () => {
    const { sql, onClose } = onePool();
    const db = await sql.reserve();
    const [row] = await db<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await db`begin`;
    await killer`select pg_terminate_backend(${row!.pid})`;
    await onClose;
    // As shared/payments/accept.ts does when its group fails: roll back, then release.
    const outcome = await settleWithin(db`rollback`.execute(), 1000);
    expect(uncaught.map(String)).toEqual([]);
    expect(outcome).toEqual(closedError);
    db.release();
    // Unpatched, release() filed the dead connection as open and the next query failed on it.
    await expectPoolWorks(sql);
  });

  it("flushes again after its socket closed with a write still buffered (no poisoned connection)", async () => {
    const marker = "buffered_when_the_socket_closes";
    const pool = onePool({
      // Called as a query is built, just before postgres.js buffers it for its next immediate.
      debug: (_connection, query) => query.includes(marker) && pool.socket().destroy(),
    });
    await pool.sql`select 1`;
    // From an immediate, as under load: the write postgres.js defers goes to the next loop turn,
    // and the socket's close is handled before it, in this turn. Unpatched, closed() cancelled the
    // immediate but left it recorded, so no write was ever scheduled again: every reconnect waited
    // for connect_timeout (CONNECT_TIMEOUT), forever.
    await nextTurn();
    const buffered = pool.sql`select 1 as buffered_when_the_socket_closes`.execute();
    expect(await settleWithin(buffered, 1000)).toEqual(closedError);
    await expectPoolWorks(pool.sql);
  });

  it("rejects the queries a reservation queued when its connection closes", async () => {
    const marker = "waits_for_its_description";
    const pool = onePool({
      debug: (_connection, query) => query.includes(marker) && pool.socket().destroy(),
    });
    const db = await pool.sql.reserve();
    // With a new parameterized statement in flight the connection is full: the reservation queues
    // the next query itself. Unpatched, the close left that one pending forever.
    const first = db`select ${1}::int as waits_for_its_description`.execute();
    const queued = db`select 2 as y`.execute();
    expect(await settleWithin(first, 1000)).toEqual(closedError);
    expect(await settleWithin(queued, 1000)).toEqual(closedError);
    db.release();
    await expectPoolWorks(pool.sql);
  });

  it("rejects a query sent between the socket's error and its close", async () => {
    const { sql, socket } = onePool();
    const db = await sql.reserve();
    await db`select 1`;
    const running = db`select pg_sleep(5)`.execute();
    await nextTurn();
    let late: Promise<unknown> | undefined;
    const rejected = running.catch(() => {
      // The 'error' event rejected `running`; the 'close' event comes later. Unpatched, closed()
      // left a query sent in between pending forever (shared/payments/accept.ts's rollback).
      late = db`rollback`.execute();
    });
    socket().destroy(new Error("read ECONNRESET"));
    await rejected;
    expect(await settleWithin(late!, 1000)).toEqual(closedError);
    db.release();
    await expectPoolWorks(sql);
  });

  it("does not fail the next connection's first query with the killed backend's error", async () => {
    const { sql, onClose } = onePool();
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const running = killedLater(sql`select pg_sleep(5)`.execute());
    await nextTurn();
    await killer`select pg_terminate_backend(${row!.pid})`;
    expect(await settleWithin(running, 1000)).toMatchObject({ status: "rejected" });
    await onClose; // a query sent before the socket's close is rejected (see above): not this test
    // Unpatched, the FATAL 57P01 the killed backend sent stayed recorded and failed this query.
    await expectPoolWorks(sql);
  });

  it("serves a reserve() that waited for the connection while it was closed and reopened", async () => {
    const { sql } = onePool();
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const running = killedLater(sql`select pg_sleep(5)`.execute());
    await nextTurn();
    const reserving = sql.reserve(); // waits: the only connection is busy
    await killer`select pg_terminate_backend(${row!.pid})`;
    expect(await settleWithin(running, 1000)).toMatchObject({ status: "rejected" });
    // Unpatched, the pool reopened the connection for the waiting reserve() and then dropped it.
    const outcome = await settleWithin(reserving, 1500);
    expect(outcome.status).toBe("resolved");
    const db = (outcome as { value: postgres.ReservedSql }).value;
    expect(await db`select 1 as x`).toEqual([{ x: 1 }]);
    db.release();
    await expectPoolWorks(sql);
  });

  it("takes a reserve() whose connection failed to open out of the queue", async () => {
    const { sql, route } = onePool({ connect_timeout: 1 });
    // A server that accepts and never answers: the reconnect times out (connect_timeout, 1 s).
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const running = killedLater(sql`select pg_sleep(5)`.execute());
      await nextTurn();
      const reserving = sql.reserve(); // waits: the only connection is busy
      route.port = (silent.address() as net.AddressInfo).port;
      await killer`select pg_terminate_backend(${row!.pid})`;
      expect(await settleWithin(running, 1000)).toMatchObject({ status: "rejected" });
      const outcome = await settleWithin(reserving, 2500);
      expect(outcome).toMatchObject({ status: "rejected", error: { code: "CONNECT_TIMEOUT" } });
      route.port = Number(url.port || 5432);
      // Unpatched, the rejected reserve() stayed queued and took the next connection to open.
      await expectPoolWorks(sql);
    } finally {
      silent.close();
    }
  });

  it("has no unhandled rejection when a connection closes while fetching array types", async () => {
    let armed = true;
    const pool = onePool({
      debug: (_connection, query) => {
        if (armed && query.includes("pg_catalog.pg_type")) {
          armed = false;
          pool.socket().destroy();
        }
      },
    });
    // A first connection for reserve() fetches the array types; its socket closes meanwhile.
    // Unpatched, the rejected fetch was an unhandled rejection, which kills a Node process.
    const outcome = await settleWithin(pool.sql.reserve(), 1500);
    expect(outcome.status).toBe("resolved");
    (outcome as { value: postgres.ReservedSql }).value.release();
    await nextTurn();
    expect(uncaught.map(String)).toEqual([]);
    await expectPoolWorks(pool.sql);
  });

  it("sends a pipelined round trip of large statements in one socket write", async () => {
    const pool = onePool();
    const big = "x".repeat(4000);
    const query = (i: number) => pool.sql`select ${i}::int as i, length(${big}::text) as n`;
    // Connected, and the statement prepared (a statement's first run waits for its description).
    await query(0);
    const socket = pool.socket();
    let writes = 0;
    const write = socket.write.bind(socket) as typeof socket.write;
    socket.write = ((...args: Parameters<typeof socket.write>) => {
      writes++;
      return write(...args);
    }) as typeof socket.write;
    // Five statements, each well over the 1 KiB at which the unpatched client wrote at once, sent in
    // one event-loop turn, as the group commit sends its reads and its writes.
    const answers = await Promise.all([1, 2, 3, 4, 5].map(query));
    expect(answers.map(([row]) => row)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i, n: 4000 })));
    expect(writes).toBe(1);
  });
});
