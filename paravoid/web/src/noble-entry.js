// The parts of the noble libraries that paravoid's pages use, bundled by build.mjs into
// paravoid/assets/noble.js (one ES module, no bare imports, served by paravoid itself).
export { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
export { argon2idAsync } from "@noble/hashes/argon2.js";
export { hkdf } from "@noble/hashes/hkdf.js";
export { sha256 } from "@noble/hashes/sha2.js";
export { sha3_256 } from "@noble/hashes/sha3.js";
