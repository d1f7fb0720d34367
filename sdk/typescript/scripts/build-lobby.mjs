// Bundles the web lobby (examples/web-lobby/lobby.ts and the SDK it imports, with its
// MessagePack codec) into one browser script, examples/web-lobby/lobby.js.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const lobby = join(dirname(fileURLToPath(import.meta.url)), "../examples/web-lobby");
await build({
  entryPoints: [join(lobby, "lobby.ts")],
  outfile: join(lobby, "lobby.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  sourcemap: "inline",
  logLevel: "warning",
});
console.log("built examples/web-lobby/lobby.js");
