import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// The memory settings that keep the npm start process group within its budget (README,
// Performance) live in two places: package.json's start scripts and the Docker image. They must
// not drift apart, and each script must exec node (so SIGTERM reaches it, and no shell lingers).
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");

const SCRIPT = /^exec env MALLOC_ARENA_MAX=(\d+) node ((?:--[\w-]+=\S+ )+)(dist\/[\w/]+\.js)$/;

describe("start scripts and the Docker image", () => {
  it("run node with the same memory settings", () => {
    const entries = {
      start: "dist/main.js",
      "start:api": "dist/api/main.js",
      "start:worker": "dist/worker/main.js",
    };
    const flags = Object.entries(entries).map(([name, entry]) => {
      const match = SCRIPT.exec(pkg.scripts[name]);
      expect(match, `${name}: ${pkg.scripts[name]}`).not.toBeNull();
      expect(match![3]).toBe(entry);
      return { arenas: match![1], flags: match![2]!.trim() };
    });
    expect(new Set(flags.map((f) => JSON.stringify(f))).size).toBe(1);
    const [{ arenas, flags: nodeFlags }] = flags as [{ arenas: string; flags: string }];
    expect(nodeFlags).toMatch(/--max-semi-space-size=\d+/);
    expect(nodeFlags).toMatch(/--max-old-space-size=\d+/);
    expect(dockerfile).toContain(`ENV NODE_OPTIONS="${nodeFlags}"`);
    expect(dockerfile).toContain(`ENV MALLOC_ARENA_MAX=${arenas}`);
  });
});
