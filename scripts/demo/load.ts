/**
 * Demo load generator (Bun): `concurrency` loops of fetch against the
 * servers (the ports in DEMO_PORTS, taken in turn: the Bun servers' and the
 * Node cluster's), with request sizes that swell and shrink in waves so the
 * live table and the sparkline have something to show. Runs until SIGTERM
 * or stdin closes, then prints `{"requests":N,"errors":N}`.
 */
import process from "node:process";

const ports = (process.env.DEMO_PORTS ?? "").split(",").map(Number);
const concurrency = Number(process.env.DEMO_CONCURRENCY ?? 4);
const start = Date.now();
let requests = 0;
let errors = 0;
let running = true;
let turn = 0;

// Sizes in KiB and hold times in ms swell and shrink together, a wave about every 12 s,
// with an occasional large request; the think time keeps two cores responsive.
function size(): { kb: number; hold: number; pause: number } {
  const t = (Date.now() - start) / 1000;
  const wave = 1 + Math.sin(t / 2);
  const kb = Math.round(16 + wave * 384 * Math.random() + (Math.random() < 0.03 ? 4096 : 0));
  return { kb, hold: Math.round(100 + Math.random() * 700 * wave), pause: 10 + Math.random() * 40 };
}

async function loop(): Promise<void> {
  while (running) {
    const { kb, hold, pause } = size();
    try {
      // A new connection per request: the kernel spreads connections, not requests,
      // over the processes sharing the port.
      const port = ports[turn++ % ports.length];
      const r = await fetch(`http://127.0.0.1:${port}/work?kb=${kb}&hold=${hold}`, {
        headers: { connection: "close" },
      });
      await r.text();
      if (r.ok) requests++;
      else errors++;
      await new Promise((r) => setTimeout(r, pause));
    } catch {
      errors++;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function finish(): void {
  if (!running) return;
  running = false;
  console.log(JSON.stringify({ requests, errors }));
  process.exit(0);
}
process.on("SIGTERM", finish);
process.on("SIGINT", () => {});
process.stdin.on("end", finish);
process.stdin.resume();
for (let i = 0; i < concurrency; i++) loop();
