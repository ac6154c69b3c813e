// Request-a-secret from a shell, with the code the page uses (../assets/request.js), against a
// server (node 20 or later: fetch):
//
//   node request-cli.mjs request SERVER [--ttl SECS]   → two lines: the request link, the own link
//   node request-cli.mjs respond LINK [FILE…] < message → seals to the request link and posts it
//                                                         (with files: sealed and uploaded first)
//   node request-cli.mjs open OWN_LINK [DIR]            → the answer, claimed and opened (an answer
//                                                         with files: each into DIR, then the message)
//
// The keys and the message never leave this process except as printed here.
import * as files from "../assets/files.js";
import * as note from "../assets/note.js";
import * as request from "../assets/request.js";
import { downloadFiles, uploadFiles } from "./files-io.mjs";

const [command, link, ...rest] = process.argv.slice(2);
const option = (name) => {
  const at = rest.indexOf(name);
  return at >= 0 ? rest[at + 1] : undefined;
};

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** `{ server, id, fragment }` of a `<server>/r/<id>#…` link. */
function split(text) {
  const url = new URL(text);
  const match = /^(.*)\/r\/([0-9a-fA-F-]{36})$/.exec(url.pathname);
  if (!match) {
    throw new Error("not a request link");
  }
  return { server: url.origin + match[1], id: match[2], fragment: url.hash };
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}: ${json.error}`);
  }
  return json;
}

function fail(message) {
  process.stderr.write(`request-cli: ${message}\n`);
  process.exit(1);
}

try {
  if (command === "request") {
    const server = link.replace(/\/+$/, "");
    const keys = request.makeRequestKeys();
    const body = { claim_hash: note.toBase64url(note.tokenHash(keys.claim)) };
    if (option("--ttl")) {
      body.ttl_secs = Number(option("--ttl"));
    }
    const created = await api("POST", `${server}/api/e2e/requests`, body);
    const base = `${server}${created.respond_path}`;
    process.stdout.write(`${base}#${request.requestFragment(keys)}\n${base}#${request.ownFragment(keys)}\n`);
  } else if (command === "respond") {
    const { server, id, fragment } = split(link);
    const parsed = request.parseRequestFragment(fragment);
    if (parsed.kind !== "request") {
      fail("not a request link (#req.)");
    }
    let plaintext = await stdin();
    let ids = [];
    if (rest.length > 0) {
      const key = files.newFileKey();
      const uploaded = await uploadFiles(server, key, rest);
      plaintext = files.bundleToBytes({ message: plaintext, key, files: uploaded.entries });
      ids = uploaded.ids;
    }
    const sealed = await request.sealAnswer(plaintext, parsed.ek, parsed.classical, id);
    const body = { note: note.noteToJson(sealed) };
    if (ids.length > 0) {
      body.files = ids;
    }
    await api("POST", `${server}/api/e2e/requests/${id}/response`, body);
  } else if (command === "open") {
    const { server, id, fragment } = split(link);
    const parsed = request.parseRequestFragment(fragment);
    if (parsed.kind !== "own") {
      fail("not a requester's link (#own.)");
    }
    const { claim, keys } = request.answerKeys(parsed.compact, id);
    const claimed = await api("POST", `${server}/api/e2e/notes/${id}/claim`, {
      claim_token: note.toBase64url(claim),
    });
    const stored = note.noteFromJson(claimed.note);
    const plaintext = await note.openNote(stored, keys);
    if (files.isBundle(plaintext)) {
      const bundle = files.bundleFromBytes(plaintext);
      await downloadFiles(new URL(link).origin, id, claimed.files.token, bundle, rest[0] ?? ".");
      process.stdout.write(bundle.message);
    } else {
      process.stdout.write(plaintext);
    }
  } else {
    fail("usage: request SERVER | respond LINK | open OWN_LINK");
  }
} catch (err) {
  fail(err.kind ?? err.message ?? String(err));
}
