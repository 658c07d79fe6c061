/**
 * The system under test, started as a user starts it: a shell command (`npm start`) in the app's
 * directory, spawned detached so that it leads a process group of its own. Everything it starts
 * (npm, its script shell, tsx, a supervisor and the processes it forks) stays in that group, which
 * is how the bench measures it and how it stops it: SIGTERM to the group, SIGKILL after a grace.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "undici";
import { groupPids } from "./procs.ts";

export interface AppSpec {
  dir: string;
  command: string;
  port: number;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs: number;
}

export interface RunningApp {
  /** The group leader's pid, which is also the group id. */
  pgid: number;
  /** SIGTERM the group, wait until every process of it is gone; SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<{ forced: boolean }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getStatus(url: string): Promise<number | null> {
  try {
    const res = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return null;
  }
}

/** Forwards the app's output, each line prefixed, so it reads apart from the bench's own. */
function forward(stream: NodeJS.ReadableStream | null, to: NodeJS.WriteStream): void {
  let partial = "";
  stream?.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) to.write(`  app| ${line}\n`);
  });
}

/** Groups still running, killed if the bench itself exits early (error, Ctrl-C). */
const live = new Set<number>();
process.on("exit", () => {
  for (const pgid of live) killGroup(pgid, "SIGKILL");
});

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (groupPids(pgid).length === 0) return true;
    await sleep(100);
  }
  return groupPids(pgid).length === 0;
}

async function waitReady(child: ChildProcess, spec: AppSpec): Promise<void> {
  const url = `http://127.0.0.1:${spec.port}/ready`;
  const deadline = Date.now() + spec.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the app exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    if ((await getStatus(url)) === 200) return;
    await sleep(200);
  }
  throw new Error(`the app was not ready (GET ${url} = 200) within ${spec.readyTimeoutMs / 1000} s`);
}

export async function startApp(spec: AppSpec): Promise<RunningApp> {
  const probe = await getStatus(`http://127.0.0.1:${spec.port}/ready`);
  if (probe !== null) throw new Error(`port ${spec.port} is already in use (set BENCH_PORT)`);
  const child = spawn(spec.command, {
    cwd: spec.dir,
    env: spec.env,
    shell: true,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
  const pgid = child.pid;
  live.add(pgid);
  forward(child.stdout, process.stdout);
  forward(child.stderr, process.stderr);
  const app: RunningApp = {
    pgid,
    async stop(graceMs) {
      killGroup(pgid, "SIGTERM");
      let forced = false;
      if (!(await waitGroupGone(pgid, graceMs))) {
        forced = true;
        killGroup(pgid, "SIGKILL");
        await waitGroupGone(pgid, 5000);
      }
      live.delete(pgid);
      return { forced };
    },
  };
  try {
    await waitReady(child, spec);
  } catch (err) {
    await app.stop(5000);
    throw err;
  }
  return app;
}
