/**
 * Loaded into a service process by the bench (NODE_OPTIONS="--import <this file>", as Node 20 does
 * not take --cpu-prof there) when BENCH_CPU_PROF_DIR is set; does nothing otherwise. The V8 CPU
 * profiler is toggled by SIGUSR2: the first signal starts it and writes `<pid>.started`, the next
 * stops it and writes `<pid>-<n>.cpuprofile` (renamed into place whole), and so on. So a profile
 * covers exactly one load run, not the start-up or the setup.
 */
import { renameSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  const post = (method, params = {}) =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: Number(process.env.BENCH_CPU_PROF_US ?? 500) });
  let running = false;
  let n = 0;
  process.on("SIGUSR2", () => {
    void (async () => {
      if (!running) {
        await post("Profiler.start");
        running = true;
        writeFileSync(join(dir, `${process.pid}.started`), "");
      } else {
        const { profile } = await post("Profiler.stop");
        running = false;
        const file = join(dir, `${process.pid}-${n++}.cpuprofile`);
        writeFileSync(`${file}.tmp`, JSON.stringify(profile));
        renameSync(`${file}.tmp`, file);
      }
    })();
  });
}
