// The browser note library behind a JSON pipe, for the Rust interop test
// (paravoid/tests/interop.rs): reads one request on stdin, writes one answer on stdout.
//
//   {"seal": [{"plaintext": hex, "passphrase": string|null, "costs": {...}|null}]}
//     → {"sealed": [{"note": hex, "compact": string, "claim": hex, "passphrase_token": hex|null}]}
//   {"open": [{"note": hex, "compact": string, "passphrase": string|null}]}
//     → {"opened": [{"plaintext": hex} | {"error": "wrong-keys" | "wrong-passphrase" |
//                    "passphrase-required" | "corrupt" | "encoding"}]}
import * as note from "../assets/note.js";

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));

async function seal(request) {
  const sealed = await note.sealNote(unhex(request.plaintext), {
    passphrase: request.passphrase ?? undefined,
    costs: request.costs ?? undefined,
  });
  return {
    note: hex(note.noteToBytes(sealed.note)),
    compact: note.keysToCompact(sealed.keys),
    claim: hex(sealed.tokens.claim),
    passphrase_token: sealed.tokens.passphrase ? hex(sealed.tokens.passphrase) : null,
  };
}

async function open(request) {
  try {
    const stored = note.noteFromBytes(unhex(request.note));
    const keys = note.keysFromCompact(request.compact);
    const plaintext = await note.openNote(stored, keys, request.passphrase ?? undefined);
    return { plaintext: hex(plaintext) };
  } catch (err) {
    return { error: err instanceof note.EncodingError ? "encoding" : err.kind ?? String(err) };
  }
}

let input = "";
for await (const chunk of process.stdin) {
  input += chunk;
}
const request = JSON.parse(input);
const answer = {};
if (request.seal) {
  answer.sealed = [];
  for (const one of request.seal) {
    answer.sealed.push(await seal(one));
  }
}
if (request.open) {
  answer.opened = [];
  for (const one of request.open) {
    answer.opened.push(await open(one));
  }
}
process.stdout.write(JSON.stringify(answer));
