import type { Services } from "../shared/context.ts";

export interface WorkerHandle {
  close(): Promise<void>;
}

/** Starts every BullMQ worker of this process. Filled in by the posting and webhook issues. */
export async function startWorkers(services: Services): Promise<WorkerHandle> {
  services.log.info("workers started");
  return { close: async () => {} };
}
