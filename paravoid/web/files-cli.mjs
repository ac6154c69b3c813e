// Notes with files from a shell, with the page's code (../assets/note.js, ../assets/files.js),
// for the command-line client's interop test:
//
//   node files-cli.mjs send SERVER FILE… < message   → the link (files sealed and uploaded as streams)
//   node files-cli.mjs open LINK DIR                  → DIR/<name> per file, then
//                                                      {"message": hex, "files": [name, …]}
//
// The keys, names and contents never leave this process except as sealed bytes and tokens.
import * as files from "../assets/files.js";
import * as note from "../assets/note.js";
import { downloadFiles, uploadFiles } from "./files-io.mjs";

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function expect(response, status) {
  if (response.status !== status) {
    throw new Error(`${response.url}: HTTP ${response.status} ${await response.text()}`);
  }
  return response;
}

async function send(server, paths) {
  const message = await stdin();
  const key = files.newFileKey();
  const { entries, ids } = await uploadFiles(server, key, paths);
  const sealed = await note.sealNote(files.bundleToBytes({ message, key, files: entries }));
  const created = await expect(await fetch(`${server}/api/e2e/notes`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      note: note.noteToJson(sealed.note),
      claim_hash: note.toBase64url(note.tokenHash(sealed.tokens.claim)),
      files: ids,
    }),
  }), 201);
  const { share_path: sharePath } = await created.json();
  console.log(`${server}${sharePath}#${note.e2eFragment(sealed.keys)}`);
}

async function open(link, dir) {
  const url = new URL(link);
  const id = url.pathname.split("/").pop();
  const keys = note.keysFromCompact(note.parseFragment(url.hash).compact);
  const tokens = note.claimTokens(keys.raw, null);
  const claimed = await (await expect(await fetch(`${url.origin}/api/e2e/notes/${id}/claim`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ claim_token: note.toBase64url(tokens.claim) }),
  }), 200)).json();
  const plaintext = await note.openNote(note.noteFromJson(claimed.note), keys);
  const bundle = files.bundleFromBytes(plaintext);
  const names = await downloadFiles(url.origin, id, claimed.files.token, bundle, dir);
  console.log(JSON.stringify({ message: Buffer.from(bundle.message).toString("hex"), files: names }));
}

const [command, ...rest] = process.argv.slice(2);
if (command === "send" && rest.length >= 2) {
  await send(rest[0], rest.slice(1));
} else if (command === "open" && rest.length === 2) {
  await open(rest[0], rest[1]);
} else {
  console.error("usage: node files-cli.mjs send SERVER FILE… | open LINK DIR");
  process.exit(2);
}
