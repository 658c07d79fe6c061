/**
 * The whole pipeline on a real Redis Cluster: three masters started by this file (no replicas),
 * every Redis client a cluster client (REDIS_CLUSTER=true, REDIS_URL listing the seeds). Payments
 * are accepted through the API, posted by in-process workers, and checked in the ledger; then the
 * cluster is wiped (FLUSHALL on every master) while payments are accepted, and everything is still
 * posted exactly once.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../shared/config.ts";
import { makeUser, type TestApp, type TestUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { exited, isolatedEnv } from "./support/isolated.ts";
import { balanceOf, pay, settled, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** `n` consecutive free ports whose cluster bus ports (+10000) are free too. */
async function freeClusterPorts(n: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: n }, (_, i) => base + i);
    const free = await Promise.all(ports.flatMap((p) => [portFree(p), portFree(p + 10_000)]));
    if (free.every(Boolean)) return ports;
  }
  throw new Error("no free ports for the test cluster");
}

interface TestCluster {
  ports: number[];
  /** redis-cli against one node (no cluster redirection): its own keys, its own state. */
  cli(port: number, ...args: string[]): Promise<string>;
  flushAll(): Promise<void>;
  /** The keys under `prefix` on each master, by port. */
  keysByNode(prefix: string): Promise<Map<number, string[]>>;
}

/** Three cluster-enabled redis-servers joined into one cluster; killed after the file. */
async function startCluster(): Promise<TestCluster> {
  const ports = await freeClusterPorts(3);
  const dir = mkdtempSync(join(tmpdir(), "payments-redis-cluster-"));
  const servers: ChildProcess[] = [];
  const kill = () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill("SIGKILL");
  };
  // Also when the test process itself goes down before its hooks run.
  process.once("exit", kill);
  afterAll(async () => {
    kill();
    await Promise.all(servers.map(exited));
    rmSync(dir, { recursive: true, force: true });
  });
  for (const port of ports) {
    servers.push(
      spawn(
        "redis-server",
        [
          ...["--port", String(port), "--bind", "127.0.0.1"],
          ...["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`],
          ...["--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"],
        ],
        { stdio: "ignore" },
      ),
    );
  }
  const cli = async (port: number, ...args: string[]) =>
    (await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])).stdout.trim();
  for (const port of ports) {
    await waitFor(
      () =>
        cli(port, "ping").then(
          (r) => r === "PONG",
          () => false,
        ),
      {
        what: `redis-server on ${port}`,
      },
    );
  }
  await run("redis-cli", [
    "--cluster",
    "create",
    ...ports.map((p) => `127.0.0.1:${p}`),
    "--cluster-replicas",
    "0",
    "--cluster-yes",
  ]);
  for (const port of ports) {
    await waitFor(async () => (await cli(port, "cluster", "info")).includes("cluster_state:ok"), {
      what: `cluster_state:ok on ${port}`,
    });
  }
  return {
    ports,
    cli,
    async flushAll() {
      const replies = await Promise.all(ports.map((p) => cli(p, "flushall")));
      expect(replies).toEqual(ports.map(() => "OK"));
    },
    async keysByNode(prefix) {
      const found = new Map<number, string[]>();
      for (const port of ports) {
        const out = await cli(port, "--scan", "--pattern", `${prefix}:*`);
        found.set(port, out ? out.split("\n") : []);
      }
      return found;
    },
  };
}

/** Each payment succeeded and was posted exactly once: one ledger transaction; nothing left pending. */
async function expectPostedOnce(t: TestApp, ids: string[]) {
  const rows = await t.services.sql<{ id: string; status: string; txs: number }[]>`
    select p.id, p.status, (select count(*)::int from transactions x where x.payment_id = p.id) as txs
      from payments p where p.id = any(${ids}::text[])`;
  expect(rows).toHaveLength(ids.length);
  expect(rows.filter((r) => r.status !== "succeeded" || r.txs !== 1)).toEqual([]);
  const [pending] = await t.services.sql<{ n: number }[]>`
    select count(*)::int as n from operations where status = 'pending'`;
  expect(pending?.n).toBe(0);
  await expectLedgerHealthy(t.services.sql);
}

describe("REDIS_URL with REDIS_CLUSTER", () => {
  const check = (env: Record<string, string>) => {
    try {
      const c = loadConfig({ NODE_ENV: "test", ...env });
      return { url: c.REDIS_URL, cluster: c.REDIS_CLUSTER };
    } catch (err) {
      return (err as Error).message;
    }
  };

  it("takes seeds as comma-separated full URLs, in cluster mode only", () => {
    const seeds = "redis://:pw@10.0.0.1:7000, redis://10.0.0.2:7001";
    expect(check({ REDIS_URL: seeds, REDIS_CLUSTER: "true" })).toEqual({ url: seeds, cluster: true });
    expect(check({ REDIS_URL: "redis://10.0.0.1:7000", REDIS_CLUSTER: "true" })).toMatchObject({
      cluster: true,
    });
    expect(check({})).toEqual({ url: "redis://127.0.0.1:6379", cluster: false });
    expect(check({ REDIS_URL: seeds })).toMatch(
      /^Invalid configuration: REDIS_URL lists 2 seeds, which only a cluster has: set REDIS_CLUSTER=true$/,
    );
  });

  it("refuses seeds without a scheme, mixed TLS, differing credentials and a database other than 0", () => {
    const bad = (url: string) => check({ REDIS_URL: url, REDIS_CLUSTER: "true" });
    expect(bad("redis://a:7000,b:7001")).toMatch(/REDIS_URL must be a redis:\/\/ URL, or several .*"b:7001"/);
    expect(bad("http://a:7000")).toMatch(/REDIS_URL must be a redis:\/\/ URL$/);
    expect(bad("redis://a:7000,rediss://b:7001")).toMatch(
      /REDIS_URL seeds must all use redis:\/\/ or all rediss:\/\//,
    );
    expect(bad("redis://:one@a:7000,redis://:two@b:7001")).toMatch(
      /REDIS_URL seeds must carry the same credentials/,
    );
    expect(bad("redis://a:7000/2")).toMatch(
      /REDIS_URL names database 2, but a Redis Cluster has only database 0/,
    );
  });
});

describe("on a Redis Cluster of three masters", async () => {
  const cluster = await startCluster();
  const env: Record<string, string> = {
    ...(await isolatedEnv("redis_cluster")),
    REDIS_CLUSTER: "true",
    REDIS_URL: cluster.ports.map((p) => `redis://127.0.0.1:${p}`).join(","),
    // Several queues, so their slots land on more than one master.
    POSTING_PARTITIONS: "4",
    RECONCILE_INTERVAL_MS: "500",
    RECONCILE_GRACE_MS: "1000",
  };
  const prefix = env.QUEUE_PREFIX!;
  const t = await useApp(env);

  const payers: TestUser[] = [];
  let payee: TestUser;
  let paid = 0;
  /** One payment of 1.00 from each payer, all at once; each must be accepted (202). */
  async function round(): Promise<string[]> {
    const replies = await Promise.all(
      payers.map((p) =>
        pay(t, p, {
          from_account: p.account.account_number,
          to_account: payee.account.account_number,
          amount: "1.00",
          currency: "USD",
        }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(payers.map(() => 202));
    paid += 1;
    return replies.map((r) => r.body.id as string);
  }
  async function expectBalances() {
    expect(await balanceOf(t.services, payee.account.account_number)).toBe(
      BigInt(paid * payers.length * 100),
    );
    for (const p of payers) {
      expect(await balanceOf(t.services, p.account.account_number)).toBe(100_000n - BigInt(paid * 100));
    }
  }

  it("every client is a cluster client, and /ready says Redis answers", async () => {
    expect(t.services.redis).toBeInstanceOf(Cluster);
    const ready = await t.request("GET", "/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: true, redis: true });
  });

  it("accepts 100 payments and posts each exactly once; the queues' keys live on the masters owning their slots", async () => {
    payers.push(
      ...(await Promise.all(Array.from({ length: 20 }, () => makeUser(t.services, { balance: 100_000n })))),
    );
    payee = await makeUser(t.services, { role: "merchant" });
    const workers = await useWorkers(t.services);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(...(await round()));
    expect(ids).toHaveLength(100);
    await settled(t.services, ids, 30_000);
    await expectPostedOnce(t, ids);
    await expectBalances();

    // Each queue's keys ({hash tag} in its name) sit together on one master; the queues spread
    // over more than one master. A node only stores keys of slots it serves (else: MOVED).
    const byNode = await cluster.keysByNode(prefix);
    const queueNodes = new Map<string, Set<number>>();
    for (const [port, keys] of byNode) {
      for (const k of keys) {
        const queue = k.slice(prefix.length + 1).split(":")[0]!;
        queueNodes.set(queue, (queueNodes.get(queue) ?? new Set()).add(port));
      }
    }
    expect([...queueNodes.keys()].sort()).toEqual(
      expect.arrayContaining(["{postings-0}", "{postings-1}", "{postings-2}", "{postings-3}"]),
    );
    for (const [queue, nodes] of queueNodes) expect([queue, nodes.size]).toEqual([queue, 1]);
    expect([...byNode.values()].filter((keys) => keys.length > 0).length).toBeGreaterThan(1);

    // The dashboard (bull-board) reads the same queues through the cluster client.
    const ops = await makeUser(t.services, { role: "ops" });
    const board = await t.request("GET", "/ops/queues/api/queues", { token: ops.token });
    expect(board.status).toBe(200);
    const boardQueues = (board.body.queues as { name: string; counts: { completed: number } }[]) ?? [];
    expect(boardQueues.map((q) => q.name)).toEqual(expect.arrayContaining(["{postings-0}", "{webhooks}"]));
    expect(boardQueues.reduce((n, q) => n + q.counts.completed, 0)).toBeGreaterThan(0);
    await workers.close();
  });

  it("FLUSHALL on every master while payments are accepted and posted: all posted exactly once", async () => {
    const workers = await useWorkers(t.services);
    const ids: string[] = [];
    // Wipe the cluster in the middle of each round: acceptance and posting carry on.
    for (let i = 0; i < 3; i++) {
      const [accepted] = await Promise.all([round(), cluster.flushAll()]);
      ids.push(...accepted);
    }
    await settled(t.services, ids, 30_000);
    await expectPostedOnce(t, ids);
    await expectBalances();
    await workers.close();
  });

  it("with every job wiped while no worker runs, the reconciler alone posts the work, exactly once", async () => {
    const ids = [...(await round()), ...(await round())];
    await cluster.flushAll();
    expect([...(await cluster.keysByNode(prefix)).values()].flat()).toEqual([]);
    // Nothing posted them yet, and no job for them exists any more.
    const [pending] = await t.services.sql<{ n: number }[]>`
      select count(*)::int as n from payments where id = any(${ids}::text[]) and status = 'pending'`;
    expect(pending?.n).toBe(ids.length);
    await useWorkers(t.services);
    await settled(t.services, ids, 30_000);
    await expectPostedOnce(t, ids);
    await expectBalances();
  });

  it("npm start with REDIS_CLUSTER=true: the API is ready (Redis true) and the workers start", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "main.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        PORT: "0",
        API_PROCESSES: "1",
        WORKER_PROCESSES: "1",
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    afterAll(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const logs: { msg?: string; port?: number }[] = [];
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        logs.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    });
    const listening = await waitFor(async () => logs.find((e) => e.msg === "api listening"), {
      timeoutMs: 30_000,
      what: "'api listening'",
    });
    await waitFor(async () => logs.some((e) => e.msg === "workers started"), {
      timeoutMs: 30_000,
      what: "'workers started'",
    });
    const ready = await fetch(`http://127.0.0.1:${listening.port}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { redis: true } });
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
  });
});
