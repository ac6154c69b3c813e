// Rebuilds the vendored browser cryptography from the exact versions in package-lock.json:
//
//   npm ci && npm run build     writes ../assets/noble.js and ../assets/noble-licenses.txt, the
//                               Subresource Integrity attributes of the pages' scripts, and the
//                               SHA-256 list of every served file in ../README.md
//   npm run check               rebuilds in memory and fails if any of them differ
//
// The bundle is one ES module made by esbuild from src/noble-entry.js, not minified (so it can
// be read and audited), with every package it contains listed, with its version and licence,
// in noble-licenses.txt.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
export const ASSETS = join(here, "..", "assets");
export const BUNDLE = "noble.js";
export const LICENSES = "noble-licenses.txt";
const README = join(here, "..", "README.md");
const START = "<!-- served-hashes:start -->";
const END = "<!-- served-hashes:end -->";
/** Every served file, as (path, file under assets/), in the order of `served_file_hashes()`. */
const SERVED = [
  ["/", "index.html"],
  ["/s/{id}", "reveal.html"],
  ["/r", "ask.html"],
  ["/r/{id}", "ask.html"],
  ["/receipt", "receipt.html"],
  ["/assets/app.css", "app.css"],
  ["/assets/create.js", "create.js"],
  ["/assets/reveal.js", "reveal.js"],
  ["/assets/favicon.svg", "favicon.svg"],
  ["/assets/note.js", "note.js"],
  ["/assets/noble.js", BUNDLE],
  ["/assets/noble-licenses.txt", LICENSES],
  ["/assets/files.js", "files.js"],
  ["/assets/request.js", "request.js"],
  ["/assets/attach.js", "attach.js"],
  ["/assets/ask.js", "ask.js"],
  ["/assets/receipt.js", "receipt.js"],
];

/** The pages whose `<script>` and module preloads carry `integrity` attributes. */
const PAGES = ["index.html", "reveal.html", "ask.html", "receipt.html"];
const INTEGRITY = /(<(?:script|link)\b[^>]*?(?:src|href)="\/assets\/([a-z0-9.-]+\.js)"[^>]*?integrity=")[^"]*(")/g;

/** The `integrity` value (`sha384-<base64>`) of a served file. */
function integrity(file, built) {
  const body = built[file] ?? readFileSync(join(ASSETS, file));
  return "sha384-" + createHash("sha384").update(body).digest("base64");
}

/** A page with the integrity attributes of its scripts recomputed. */
function pageWithIntegrity(page, built) {
  return readFileSync(join(ASSETS, page), "utf8")
    .replace(INTEGRITY, (_, before, file, after) => before + integrity(file, built) + after);
}

/** The README with its list of served-file hashes recomputed (`built` overrides files). */
function readmeWithHashes(built) {
  const readme = readFileSync(README, "utf8");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(`README.md lacks the ${START} … ${END} block`);
  }
  const lines = SERVED.map(([path, file]) => {
    const body = built[file] ?? readFileSync(join(ASSETS, file));
    return createHash("sha256").update(body).digest("hex") + "  " + path;
  });
  const sri = SERVED.filter(([, file]) => file.endsWith(".js"))
    .map(([path, file]) => integrity(file, built) + "  " + path);
  return readme.slice(0, start) + START + "\n\n```text\n" + lines.join("\n") + "\n```\n\n"
    + "Subresource Integrity of the scripts (the pages' `integrity` attributes):\n\n```text\n"
    + sri.join("\n") + "\n```\n\n" + readme.slice(end);
}

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
  const differ = Object.entries(built)
    .filter(([name, text]) => {
      try {
        return readFileSync(join(ASSETS, name), "utf8") !== text;
      } catch {
        return true;
      }
    })
    .map(([name]) => name);
  for (const page of PAGES) {
    if (readFileSync(join(ASSETS, page), "utf8") !== pageWithIntegrity(page, built)) {
      differ.push(page + " (integrity)");
    }
  }
  if (readFileSync(README, "utf8") !== readmeWithHashes(built)) {
    differ.push("README.md (served-hashes)");
  }
  return differ;
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
    const built = await build();
    for (const [name, text] of Object.entries(built)) {
      writeFileSync(join(ASSETS, name), text);
      console.log(`wrote ../assets/${name}`);
    }
    for (const page of PAGES) {
      writeFileSync(join(ASSETS, page), pageWithIntegrity(page, built));
      console.log(`wrote the integrity attributes in ../assets/${page}`);
    }
    writeFileSync(README, readmeWithHashes(built));
    console.log("wrote the served-file hashes in ../README.md");
  }
}
