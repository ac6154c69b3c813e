// Rebuilds the vendored browser cryptography from the exact versions in package-lock.json:
//
//   npm ci && npm run build     writes ../assets/noble.js and ../assets/noble-licenses.txt
//   npm run check               rebuilds in memory and fails if the served files differ
//
// The bundle is one ES module made by esbuild from src/noble-entry.js, not minified (so it can
// be read and audited), with every package it contains listed, with its version and licence,
// in noble-licenses.txt.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
export const ASSETS = join(here, "..", "assets");
export const BUNDLE = "noble.js";
export const LICENSES = "noble-licenses.txt";

/** Builds the bundle and the licence file in memory: `{ "noble.js": string, ... }`. */
export async function build() {
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: ["src/noble-entry.js"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    charset: "utf8",
    legalComments: "none",
    minify: false,
    metafile: true,
    write: false,
    outfile: "out.js",
  });
  const packages = new Map();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) {
      packages.set(match[1], join(here, "node_modules", match[1]));
    }
  }
  const names = [...packages.keys()].sort();
  let licenses = "Third-party code in /assets/noble.js, built from package-lock.json by "
    + "paravoid/web/build.mjs.\n";
  let header = "// Bundled by paravoid/web/build.mjs from package-lock.json. Licences: "
    + "/assets/" + LICENSES + "\n";
  for (const name of names) {
    const dir = packages.get(name);
    const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    header += `// ${name}@${meta.version} (${meta.license})\n`;
    licenses += `\n${"=".repeat(78)}\n${name}@${meta.version} (${meta.license})\n`
      + `${"=".repeat(78)}\n\n` + readFileSync(join(dir, "LICENSE"), "utf8").trimEnd() + "\n";
  }
  const code = result.outputFiles[0].text;
  return { [BUNDLE]: header + code, [LICENSES]: licenses };
}

/** The files that differ from a fresh build (empty when the served files match). */
export async function stale() {
  const built = await build();
  return Object.entries(built)
    .filter(([name, text]) => {
      try {
        return readFileSync(join(ASSETS, name), "utf8") !== text;
      } catch {
        return true;
      }
    })
    .map(([name]) => name);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const differ = await stale();
    if (differ.length > 0) {
      console.error(`out of date: ${differ.join(", ")}; run \`npm ci && npm run build\``);
      process.exit(1);
    }
    console.log("the vendored files match package-lock.json");
  } else {
    for (const [name, text] of Object.entries(await build())) {
      writeFileSync(join(ASSETS, name), text);
      console.log(`wrote ../assets/${name}`);
    }
  }
}
