/**
 * Node.js's runtime services: `process` for environment, exit hooks, signals
 * and memory figures (its heap figures are per thread in Node: each
 * `worker_threads` Worker has its own isolate), `worker_threads` for the main
 * thread test, and `node:http` for HTTP, adapted to the web `Request` and
 * `Response` the handlers take.
 *
 * Node's built-in modules are loaded with `process.getBuiltinModule`, only
 * under Node, so Bun and Deno never load them through this file.
 *
 * @module
 */
import { listenError } from "./listen.ts";
import { type NodeStyleProcess, processServices } from "./process.ts";
import type { HttpHandler, HttpServeOptions, HttpServer, Runtime, RuntimeMemory } from "./types.ts";

// Only the parts of Node's modules used here, so the module type-checks under Deno and tsc.
interface NodeProcess extends NodeStyleProcess {
  memoryUsage(): RuntimeMemory;
  getBuiltinModule(id: string): unknown;
}
interface IncomingMessage {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
}
interface ServerResponse {
  statusCode: number;
  headersSent: boolean;
  writableEnded: boolean;
  setHeader(name: string, value: string | string[]): void;
  write(chunk: Uint8Array): boolean;
  end(chunk?: string): void;
  once(event: "drain" | "close", fn: () => void): void;
  on(event: "close", fn: () => void): void;
  off(event: "drain" | "close", fn: () => void): void;
  destroy(): void;
}
interface NodeHttpServer {
  listen(port: number, hostname: string, listening: () => void): void;
  once(event: "error", fn: (e: unknown) => void): void;
  off(event: "error", fn: (e: unknown) => void): void;
  address(): { port: number } | string | null;
  close(done: () => void): void;
  closeAllConnections(): void;
}
interface NodeHttp {
  createServer(handler: (req: IncomingMessage, res: ServerResponse) => void): NodeHttpServer;
}
interface NodeStream {
  Readable: { toWeb(stream: unknown): ReadableStream<Uint8Array> };
}

const INTERNAL_ERROR = "internal error\n";

/** The web `Request` for a Node request; throws on a URL no `Request` accepts (a bad Host). */
function toRequest(
  req: IncomingMessage,
  options: HttpServeOptions,
  port: number,
  stream: NodeStream,
): Request {
  const host = typeof req.headers.host === "string" && req.headers.host !== ""
    ? req.headers.host
    : `${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}:${port}`;
  const url = new URL(req.url ?? "/", `http://${host}`);
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const method = req.method ?? "GET";
  const body = method === "GET" || method === "HEAD" ? undefined : stream.Readable.toWeb(req);
  return new Request(url, { method, headers, body, duplex: "half" } as RequestInit);
}

/** Write a web `Response` to a Node response, streaming its body and stopping when the client goes away. */
async function writeResponse(response: Response, res: ServerResponse, head: boolean): Promise<void> {
  res.statusCode = response.status;
  const cookies = response.headers.getSetCookie();
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (response.body === null || head) {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  const onClose = () => {
    gone = true;
    reader.cancel().catch(() => {});
  };
  res.on("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.once("drain", go);
          res.once("close", go);
        });
      }
    }
  } finally {
    res.off("close", onClose);
  }
  if (!gone) res.end();
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  handler: HttpHandler,
  options: HttpServeOptions,
  port: number,
  stream: NodeStream,
): Promise<void> {
  let request: Request;
  try {
    request = toRequest(req, options, port, stream);
  } catch {
    res.statusCode = 400;
    res.end("bad request\n");
    return;
  }
  try {
    await writeResponse(await handler(request), res, req.method === "HEAD");
  } catch {
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end(INTERNAL_ERROR);
    } else if (!res.writableEnded) {
      res.destroy(); // headers are out: a cut connection is the only honest signal left
    }
  }
}

/** The services of the running Node.js thread (main thread or `worker_threads` Worker). */
export function nodeRuntime(): Runtime {
  const proc = (globalThis as unknown as { process: NodeProcess }).process;
  const threads = proc.getBuiltinModule("node:worker_threads") as { isMainThread: boolean };
  return {
    name: "node",
    isMainThread: threads.isMainThread,
    ...processServices(proc),
    memoryUsage(): RuntimeMemory {
      const m = proc.memoryUsage(); // rss for the process; heap and external for this thread's isolate
      return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
    },
    async serveHttp(options: HttpServeOptions, handler: HttpHandler): Promise<HttpServer> {
      const http = proc.getBuiltinModule("node:http") as NodeHttp;
      const stream = proc.getBuiltinModule("node:stream") as NodeStream;
      let port = options.port;
      const server = http.createServer((req, res) => {
        answer(req, res, handler, options, port, stream).catch(() => res.destroy());
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(options.port, options.hostname, () => {
            server.off("error", reject);
            resolve();
          });
        });
      } catch (e) {
        throw listenError(e, options);
      }
      const address = server.address();
      if (address !== null && typeof address === "object") port = address.port;
      return {
        port,
        close() {
          return new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections(); // also ends idle keep-alive connections
          });
        },
      };
    },
  };
}
