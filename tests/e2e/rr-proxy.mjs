// A tiny round-robin HTTP load balancer for the two-replica runs (the e2e suite's --replicas and
// scripts/ds-scale-bench.sh): each request goes to the next backend that is up, bodies stream both
// ways, a client that goes away aborts its upstream request. Not for production.
//
//   node tests/e2e/rr-proxy.mjs PORT BACKEND_PORT...   (prints "listening on http://127.0.0.1:PORT")
import http from "node:http";
import { fileURLToPath } from "node:url";

/**
 * Listens on 127.0.0.1:`port`; `backends` is an array of `{port, down?}` objects the caller may
 * mark down (a killed replica) and up again. Counts requests per backend in `served`.
 */
export function startProxy(port, backends) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;
  const server = http.createServer((req, res) => {
    const up = backends.filter((b) => !b.down);
    if (!up.length) { res.writeHead(503).end(); return; }
    const to = up[next++ % up.length];
    to.served = (to.served ?? 0) + 1;
    const fwd = http.request({ host: "127.0.0.1", port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
      r.on("error", () => res.destroy());
    });
    fwd.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    res.on("close", () => { if (!res.writableFinished) fwd.destroy(); });
    req.pipe(fwd);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, ...ports] = process.argv.slice(2).map(Number);
  if (!ports.length || ![port, ...ports].every(Number.isInteger)) {
    console.error("usage: node tests/e2e/rr-proxy.mjs PORT BACKEND_PORT...");
    process.exit(2);
  }
  const server = await startProxy(port, ports.map((p) => ({ port: p })));
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
}
