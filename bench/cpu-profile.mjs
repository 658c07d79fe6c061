// BENCH_PROFILE on a Node that refuses --cpu-prof in NODE_OPTIONS (Node 20 does): the bench puts
// `--import=<this file>` in the app's NODE_OPTIONS instead, so every node process of the app (npm,
// tsx, a supervisor and the processes it forks) loads this first. It runs the same V8 sampling
// profiler as --cpu-prof and, when the process exits (process.exit or the end of the event loop,
// not a kill by signal), writes CPU.<time>.<pid>.<process title>.cpuprofile into
// BENCH_CPU_PROF_DIR (open it in Chrome DevTools or speedscope). Plain JavaScript: it also runs in
// processes without tsx.
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 }); // µs, as --cpu-prof
  session.post("Profiler.start");
  process.on("exit", () => {
    // A session on the process's own thread answers synchronously, so this completes before exit.
    session.post("Profiler.stop", (err, result) => {
      if (err || !result) return;
      const stamp = new Date().toISOString().replace(/[-:.]/g, "");
      const title = process.title.replace(/[^\w.-]+/g, "_");
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `CPU.${stamp}.${process.pid}.${title}.cpuprofile`),
        JSON.stringify(result.profile),
      );
    });
  });
}
