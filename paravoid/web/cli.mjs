// The end-to-end mode from a shell, with the same code as the page (../assets/note.js):
//
//   node cli.mjs seal [--passphrase P] [--ttl SECS] < message
//     → {"create": body, "compact": keys, "fragment": "e2e." + keys}
//   node cli.mjs tokens KEYS [--passphrase P --argon2id JSON] → {"claim_token", "passphrase_token"}
//   node cli.mjs open KEYS [--passphrase P] < claim-answer    → the message
//
// `create` is the body of POST /api/e2e/notes; the link is <server><share_path>#<fragment>.
// KEYS is the compact form or the whole fragment.
// The keys and the message never leave this process except as printed here.
import * as note from "../assets/note.js";

const [command, ...rest] = process.argv.slice(2);
const option = (name) => {
  const at = rest.indexOf(name);
  return at >= 0 ? rest[at + 1] : undefined;
};
const positional = rest.find((arg, i) => !arg.startsWith("--") && !(i > 0 && rest[i - 1].startsWith("--")));

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

if (command === "seal") {
  const message = new Uint8Array(await stdin());
  const passphrase = option("--passphrase");
  const sealed = await note.sealNote(message, { passphrase });
  const create = {
    note: note.noteToJson(sealed.note),
    claim_hash: note.toBase64url(note.tokenHash(sealed.tokens.claim)),
  };
  if (option("--ttl")) {
    create.ttl_secs = Number(option("--ttl"));
  }
  if (sealed.tokens.passphrase) {
    create.passphrase_hash = note.toBase64url(note.tokenHash(sealed.tokens.passphrase));
  }
  console.log(JSON.stringify({
    create,
    compact: note.keysToCompact(sealed.keys),
    fragment: note.e2eFragment(sealed.keys),
  }));
} else if (command === "tokens") {
  const keys = note.keysFromCompact(note.parseFragment(positional).compact);
  let pw = null;
  if (option("--passphrase")) {
    const params = JSON.parse(option("--argon2id"));
    pw = await note.derivePassphrase(option("--passphrase"), note.argon2idFromJson(params));
  }
  const tokens = note.claimTokens(keys.raw, pw);
  const out = { claim_token: note.toBase64url(tokens.claim) };
  if (tokens.passphrase) {
    out.passphrase_token = note.toBase64url(tokens.passphrase);
  }
  console.log(JSON.stringify(out));
} else if (command === "open") {
  const answer = JSON.parse((await stdin()).toString("utf8"));
  const sealed = note.noteFromJson(answer.note);
  const keys = note.keysFromCompact(note.parseFragment(positional).compact);
  const plaintext = await note.openNote(sealed, keys, option("--passphrase"));
  process.stdout.write(Buffer.from(plaintext));
  process.stdout.write("\n");
} else {
  console.error("usage: node cli.mjs seal|tokens|open …");
  process.exit(2);
}
