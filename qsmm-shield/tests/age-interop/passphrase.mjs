// Passphrase (scrypt) files between qsmm and typage, run by tests/age_interop.rs.
//
// usage: node passphrase.mjs <dir>
//
// <dir>/job.json: { passphrase, decrypt: [{ file, plaintext }], encrypt: [{ len, armor,
// work_factor, out, plaintext_out }] }. typage decrypts qsmm's files and encrypts new ones;
// results go to <dir>/results.json.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import * as age from "age-encryption";

const dir = process.argv[2];
const job = JSON.parse(readFileSync(join(dir, "job.json"), "utf8"));
const results = { decrypted: [], encrypted: [] };

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

for (const item of job.decrypt) {
  let file = new Uint8Array(readFileSync(join(dir, item.file)));
  const expected = new Uint8Array(readFileSync(join(dir, item.plaintext)));
  let outcome;
  try {
    const head = new TextDecoder().decode(file.subarray(0, 64)).trimStart();
    if (head.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
      file = age.armor.decode(new TextDecoder().decode(file));
    }
    const d = new age.Decrypter();
    d.addPassphrase(job.passphrase);
    const plaintext = await d.decrypt(file);
    outcome = equal(plaintext, expected) ? "ok" : `plaintext differs (${plaintext.length} bytes)`;
  } catch (e) {
    outcome = `error: ${e}`;
  }
  results.decrypted.push({ file: item.file, outcome });
}

for (const item of job.encrypt) {
  const plaintext = new Uint8Array(item.len);
  webcrypto.getRandomValues(plaintext.subarray(0, Math.min(item.len, 65536)));
  const e = new age.Encrypter();
  e.setPassphrase(job.passphrase);
  e.setScryptWorkFactor(item.work_factor);
  let file = await e.encrypt(plaintext);
  if (item.armor) file = new TextEncoder().encode(age.armor.encode(file));
  writeFileSync(join(dir, item.out), file);
  writeFileSync(join(dir, item.plaintext_out), plaintext);
  results.encrypted.push({ file: item.out });
}

writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 1));
