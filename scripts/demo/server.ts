/**
 * Demo HTTP server process (Bun): one of N processes sharing one port with
 * `reusePort`, each running the demo app (app.ts) with M Worker threads.
 *
 * Prints "ready <pid>" once listening. Ends on SIGTERM, or when its stdin
 * closes (the demo died). `kill -QUIT <pid>` prints the memstats report on
 * stderr, which the demo passes on.
 */
import process from "node:process";
import { installDiagnostics } from "../../mod.ts";
import { startApp } from "./app.ts";

const segment = process.env.DEMO_SEGMENT!;
const port = Number(process.env.DEMO_PORT);
const index = Number(process.env.DEMO_INDEX);
const workerCount = Number(process.env.DEMO_WORKERS);

const app = await startApp(segment, `http-${index}`, workerCount);
installDiagnostics(app.registry);

const server = Bun.serve({ port, hostname: "127.0.0.1", reusePort: true, fetch: (req) => app.fetch(req) });

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.stop(true);
  await app.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", () => {}); // Ctrl-C reaches the whole group: let the demo shut us down in order
process.stdin.on("end", shutdown);
process.stdin.resume();
console.log(`ready ${process.pid}`);
