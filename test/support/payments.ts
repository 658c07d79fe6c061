import { afterAll } from "vitest";
import type { Services } from "../../shared/context.ts";
import { startWorkers, type WorkerHandle } from "../../worker/index.ts";
import type { TestApp, TestUser } from "./app.ts";
import { waitFor } from "./wait.ts";

let counter = 0;
export function key(): string {
  counter += 1;
  return `test-${process.pid}-${Date.now()}-${counter}`;
}

/** In-process BullMQ workers for this test file, closed after it. */
export async function useWorkers(services: Services): Promise<WorkerHandle> {
  const handle = await startWorkers(services);
  afterAll(() => handle.close());
  return handle;
}

export async function pay(
  t: TestApp,
  user: TestUser,
  body: Record<string, unknown>,
  idempotencyKey: string | null = key(),
) {
  return t.request("POST", "/api/v1/payments", {
    token: user.token,
    body,
    headers: idempotencyKey === null ? {} : { "Idempotency-Key": idempotencyKey },
  });
}

const TERMINAL = new Set(["succeeded", "failed", "canceled", "requires_capture"]);

/** Waits until every payment has left `pending` and returns their rows. */
export async function settled(services: Services, ids: string[], timeoutMs = 30_000) {
  return waitFor(
    async () => {
      const rows = await services.sql<
        { id: string; status: string; failure_code: string | null; amount: bigint }[]
      >`
        select id, status, failure_code, amount from payments where id = any(${ids}::text[])`;
      return rows.length === ids.length && rows.every((r) => TERMINAL.has(r.status)) ? rows : null;
    },
    { timeoutMs, what: `${ids.length} payments to settle` },
  );
}

export async function balanceOf(services: Services, account: string): Promise<bigint> {
  const [row] = await services.sql<
    { balance: bigint }[]
  >`select balance from accounts where account_number = ${account}`;
  return row?.balance ?? -1n;
}
