// Decrypts an age file from stdin with typage (npm `age-encryption`) and writes the plaintext to
// stdout: `node decrypt.mjs key.txt < file.age > plaintext`. The identity file holds one or
// more `AGE-SECRET-KEY-…` lines; `#` comments and blank lines are ignored. Armored input is
// accepted.
import { readFileSync } from "node:fs";
import * as age from "age-encryption";

const d = new age.Decrypter();
for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  const key = line.trim();
  if (key !== "" && !key.startsWith("#")) d.addIdentity(key);
}
let file = new Uint8Array(readFileSync(0));
const head = new TextDecoder().decode(file.subarray(0, 64)).trimStart();
if (head.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
  file = age.armor.decode(new TextDecoder().decode(file));
}
process.stdout.write(await d.decrypt(file));
