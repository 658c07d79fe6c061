import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { lazyChild } from "../shared/logger.ts";

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const root = pino({ level, redact: { paths: ["password"], censor: "[redacted]" } }, stream);
  let children = 0;
  const child = root.child.bind(root);
  root.child = ((...args: Parameters<typeof child>) => {
    children++;
    return child(...args);
  }) as typeof root.child;
  return { root, lines, children: () => children };
}

describe("lazyChild", () => {
  it("makes no child for calls at disabled levels, nor for child() of a lazy child", () => {
    const { root, lines, children } = capture("warn");
    const log = lazyChild(root, { request_id: "req_1" }).child({ user_id: "usr_1" });
    log.info({ a: 1 }, "not written");
    log.debug("not written");
    expect(children()).toBe(0);
    expect(lines).toEqual([]);
  });

  it("writes enabled levels with every binding, redacted as the parent's", async () => {
    const { root, lines, children } = capture("info");
    const log = lazyChild(root, { request_id: "req_1" }).child({ user_id: "usr_1" });
    log.info({ password: "hunter2" }, "hello");
    log.warn("again");
    await new Promise((r) => setImmediate(r));
    expect(children()).toBe(1); // made once, then reused
    expect(lines).toMatchObject([
      { level: 30, request_id: "req_1", user_id: "usr_1", password: "[redacted]", msg: "hello" },
      { level: 40, request_id: "req_1", user_id: "usr_1", msg: "again" },
    ]);
    expect(log.isLevelEnabled("info")).toBe(true);
  });
});
