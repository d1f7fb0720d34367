// Serves the web lobby (examples/web-lobby) on 127.0.0.1: `node scripts/serve-lobby.mjs
// [port]` (8060 by default). Static files only, nothing outside that folder; what
// `make run` starts next to the stack.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, extname, join, normalize } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "../examples/web-lobby");
const port = Number(process.argv[2] ?? process.env.LOBBY_PORT ?? 8060);
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css" };

const server = createServer(async (request, response) => {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const file = normalize(join(root, path === "/" ? "index.html" : path));
  const type = types[extname(file)];
  if (!file.startsWith(root) || !type) {
    response.writeHead(404).end("not found");
    return;
  }
  try {
    const body = await readFile(file);
    response.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  } catch {
    response.writeHead(404).end("not found (run `make sdk` to build lobby.js)");
  }
});
server.listen(port, "127.0.0.1", () => {
  console.log(`web lobby on http://127.0.0.1:${port}/`);
});
