// Second-implementation check for qsmm-shield's age module, run by tests/age_interop.rs.
//
// usage: node interop.mjs <dir>
//
// <dir>/job.json lists files qsmm encrypted (decrypt them with typage, compare with the
// plaintext) and files to encrypt with typage (to qsmm's recipients and to a typage-generated
// identity). Results go to <dir>/results.json; the exit status is 0 unless the job itself
// could not run.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import * as age from "age-encryption";

const dir = process.argv[2];
const job = JSON.parse(readFileSync(join(dir, "job.json"), "utf8"));
const results = { decrypted: [], encrypted: [], identities: {} };

function isArmored(bytes) {
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  return head.startsWith("-----BEGIN AGE ENCRYPTED FILE-----");
}

function randomBytes(len) {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += 65536) {
    webcrypto.getRandomValues(out.subarray(i, Math.min(len, i + 65536)));
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// typage's own identities, one of each type, so qsmm also parses keys typage generated.
results.identities.hybrid = await age.generateHybridIdentity();
results.identities.x25519 = await age.generateX25519Identity();
const typageRecipients = {
  hybrid: await age.identityToRecipient(results.identities.hybrid),
  x25519: await age.identityToRecipient(results.identities.x25519),
};

for (const item of job.decrypt) {
  let file = new Uint8Array(readFileSync(join(dir, item.file)));
  const expected = new Uint8Array(readFileSync(join(dir, item.plaintext)));
  let outcome;
  try {
    if (isArmored(file)) file = age.armor.decode(new TextDecoder().decode(file));
    const d = new age.Decrypter();
    d.addIdentity(item.identity);
    const plaintext = await d.decrypt(file);
    outcome = equal(plaintext, expected) ? "ok" : `plaintext differs (${plaintext.length} bytes)`;
  } catch (e) {
    outcome = `error: ${e}`;
  }
  results.decrypted.push({ file: item.file, outcome });
}

for (const item of job.encrypt) {
  const plaintext = randomBytes(item.len);
  const e = new age.Encrypter();
  for (const r of item.recipients) e.addRecipient(r);
  if (item.typage_recipient) e.addRecipient(typageRecipients[item.typage_recipient]);
  let file = await e.encrypt(plaintext);
  if (item.armor) file = new TextEncoder().encode(age.armor.encode(file));
  writeFileSync(join(dir, item.out), file);
  writeFileSync(join(dir, item.plaintext_out), plaintext);
  results.encrypted.push({ file: item.out });
}

writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 1));
