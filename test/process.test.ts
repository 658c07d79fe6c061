import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { exited, isolatedEnv } from "./support/isolated.ts";

function run(script: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("entry points", () => {
  it("npm start: migrates, bootstraps the admin, serves the API with workers, and stops cleanly on SIGTERM", async () => {
    const env = await isolatedEnv("process");
    const child = spawn(process.execPath, ["--import", "tsx", "main.ts"], {
      env: {
        ...process.env,
        ...env,
        PORT: "0",
        LOG_LEVEL: "info",
        ADMIN_EMAIL: "root@example.test",
        ADMIN_PASSWORD: "correct horse battery",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no 'api listening' line")), 30_000);
        createInterface({ input: child.stdout! }).on("line", (line) => {
          try {
            const entry = JSON.parse(line) as { msg?: string; port?: number };
            if (entry.msg === "api listening" && entry.port) {
              clearTimeout(timer);
              resolve(entry.port);
            }
          } catch {
            // not a log line
          }
        });
      });
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      expect((await fetch(`${base}/docs`)).headers.get("content-type")).toMatch(/html/);
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "root@example.test", password: "correct horse battery" }),
      });
      expect(login.status).toBe(200);
      const { access_token } = (await login.json()) as { access_token: string };
      const verify = await fetch(`${base}/api/v1/ops/ledger/verify`, {
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited(child)).toBe(0);
  });

  it("refuses a bad configuration with one clear line and exit code 1", () => {
    const bad = run("main.ts", { PORT: "not-a-port" });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^Invalid configuration: PORT /)]);
    const prod = run("api/main.ts", { NODE_ENV: "production", JWT_SECRET: "" });
    expect(prod.status).toBe(1);
    expect(prod.stderr).toMatch(/JWT_SECRET is required when NODE_ENV=production/);
    expect(prod.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
