// Generates src/protocol.ts from the protocol's JSON Schema, proto/schema/protocol.json,
// which the Rust `proto` crate produces (`make schema`). The schema is the one source of
// the message types: a field added in Rust reaches this file through it.
//
//   node scripts/generate-types.mjs           rewrite src/protocol.ts
//   node scripts/generate-types.mjs --check   fail (exit 1) when src/protocol.ts is not
//                                             what the schema gives: it was not regenerated
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { compile } from "json-schema-to-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = join(here, "../../../proto/schema/protocol.json");
const outPath = join(here, "../src/protocol.ts");

const schema = JSON.parse(await readFile(schemaPath, "utf8"));
// A message body is any JSON value: `unknown` in TypeScript (the schema says so by
// constraining nothing, which the generator would otherwise type as `{}`).
schema.definitions.Body.tsType = "unknown";
const banner = `/**
 * Rallypoint's wire protocol (proto/PROTOCOL.md) as TypeScript types.
 *
 * GENERATED from proto/schema/protocol.json by scripts/generate-types.mjs: do not edit.
 * Run \`make schema\` after changing a message in the Rust \`proto\` crate.
 */`;
const generated = await compile(schema, "RallypointProtocol", {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  strictIndexSignatures: true,
  style: { printWidth: 100, singleQuote: false },
});

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = await readFile(outPath, "utf8");
  } catch {
    // missing: reported below
  }
  if (current !== generated) {
    console.error(
      "src/protocol.ts is not what proto/schema/protocol.json gives: the protocol changed " +
        "and the TypeScript types were not regenerated. Run `make schema` and commit the result.",
    );
    process.exit(1);
  }
  console.log("src/protocol.ts matches proto/schema/protocol.json");
} else {
  await writeFile(outPath, generated);
  console.log(`wrote ${outPath}`);
}
