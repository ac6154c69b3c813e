// Request-a-secret in the browser, with the note format of note.js (see paravoid's
// src/routes/requests.rs for the design and paravoid-cli's src/request.rs for the Rust side):
//
//   the requester draws link keys (seed ‖ classical) as for a note and registers the request with
//   the SHA-256 of their claim token; it gets two links on /r/<id>:
//     request link   #req.<ek ‖ classical>   (send it: it seals, it does not open)
//     own link       #own.<seed ‖ classical> (keep it: it opens the answer)
//   the responder seals with sealNoteTo(message, ek, classical') where
//     classical' = HKDF-SHA256(ikm = classical, info = "paravoid/v1/request" ‖ id (16 bytes) ‖ SHA-256(ek))
//   and the requester opens with (seed, classical').
import { hkdf, ml_kem768, sha256 } from "./noble.js";
import * as note from "./note.js";

export const REQUEST_LINK_PREFIX = "req.";
export const OWN_LINK_PREFIX = "own.";

const INFO_REQUEST = new TextEncoder().encode("paravoid/v1/request");

/** The 16 bytes of a hyphenated UUID. */
export function uuidBytes(id) {
  if (typeof id !== "string" || !/^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/.test(id)) {
    throw new note.EncodingError("request id");
  }
  const hex = id.replaceAll("-", "");
  return Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** The classical secret an answer to request `id` is sealed with, for the requester's `ek`. */
export function boundClassical(classical, id, ek) {
  const info = new Uint8Array(INFO_REQUEST.length + 16 + 32);
  info.set(INFO_REQUEST, 0);
  info.set(uuidBytes(id), INFO_REQUEST.length);
  info.set(sha256(ek), INFO_REQUEST.length + 16);
  return hkdf(sha256, classical, undefined, info, 32);
}

/** New requester keys: `{ raw, ek, classical, claim }` (claim: the claim token). */
export function makeRequestKeys(random = note.randomBytes) {
  const seed = random(note.SEED_LEN);
  const classical = random(note.CLASSICAL_LEN);
  const raw = new Uint8Array(note.SEED_LEN + note.CLASSICAL_LEN);
  raw.set(seed, 0);
  raw.set(classical, note.SEED_LEN);
  const { publicKey: ek } = ml_kem768.keygen(seed);
  const claim = note.claimTokens(raw, null).claim;
  seed.fill(0);
  return { raw, ek, classical, claim };
}

/** The fragment of the request link: `req.` ‖ base64url(ek ‖ classical). */
export function requestFragment(keys) {
  const bytes = new Uint8Array(note.EK_LEN + note.CLASSICAL_LEN);
  bytes.set(keys.ek, 0);
  bytes.set(keys.classical, note.EK_LEN);
  return REQUEST_LINK_PREFIX + note.toBase64url(bytes);
}

/** The fragment of the requester's own link: `own.` ‖ compact keys. */
export function ownFragment(keys) {
  return OWN_LINK_PREFIX + note.toBase64url(keys.raw);
}

/**
 * What a `/r/<id>` fragment holds: `{ kind: "request", ek, classical }`,
 * `{ kind: "own", compact }`, or `{ kind: "none" }`.
 */
export function parseRequestFragment(fragment) {
  const text = typeof fragment === "string" ? fragment.replace(/^#/, "") : "";
  if (text.startsWith(REQUEST_LINK_PREFIX)) {
    const bytes = note.fromBase64url(text.slice(REQUEST_LINK_PREFIX.length), "request key");
    if (bytes.length !== note.EK_LEN + note.CLASSICAL_LEN) {
      throw new note.EncodingError("request key");
    }
    return {
      kind: "request",
      ek: bytes.slice(0, note.EK_LEN),
      classical: bytes.slice(note.EK_LEN),
    };
  }
  if (text.startsWith(OWN_LINK_PREFIX)) {
    return { kind: "own", compact: text.slice(OWN_LINK_PREFIX.length) };
  }
  return { kind: "none" };
}

const encoder = new TextEncoder();
const INFO_KEY_CHECK = encoder.encode("qsmm/v1/shield/note/key-check");
const INFO_AEAD = encoder.encode("qsmm/v1/shield/note/aead");

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Seals a note without passphrase to link keys made elsewhere, of which only the encapsulation
 * key `ek` and the classical secret are known here: steps 2 to 8 of note.js's sealing (the
 * header `"QSNT" ‖ 0x01 ‖ 0x00 ‖ SHA-256(ek) ‖ ct_kem`), as `qsmm_shield::note::seal_note_to`.
 * note.openNote opens it with the whole keys; the tests check both directions against Rust.
 */
export async function sealNoteTo(plaintext, ek, classical, random = note.randomBytes) {
  const message = typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext;
  if (!(ek instanceof Uint8Array) || ek.length !== note.EK_LEN
    || !(classical instanceof Uint8Array) || classical.length !== note.CLASSICAL_LEN) {
    throw new note.EncodingError("encapsulation key");
  }
  const nonce = random(note.NONCE_LEN);
  const encapsulationSeed = random(32);
  const { cipherText: ct_kem, sharedSecret: ss } = ml_kem768.encapsulate(ek, encapsulationSeed);
  const header = concat(Uint8Array.of(0x51, 0x53, 0x4e, 0x54, 1, 0), sha256(ek), ct_kem);
  const binding = sha256(header);
  const base = concat(ss, classical);
  const key_check = hkdf(sha256, base, undefined, concat(INFO_KEY_CHECK, binding), 32);
  const key = hkdf(sha256, base, undefined, concat(INFO_AEAD, binding), 32);
  const cryptoKey = await globalThis.crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const ciphertext = new Uint8Array(await globalThis.crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: header, tagLength: 128 }, cryptoKey, message,
  ));
  for (const secret of [ss, base, key, encapsulationSeed]) {
    secret.fill(0);
  }
  return { ek: ek.slice(), ct_kem, nonce, key_check, passphrase: null, ciphertext };
}

/** Seals `message` as the answer to request `id` (the request link's `ek` and `classical`). */
export function sealAnswer(message, ek, classical, id) {
  return sealNoteTo(message, ek, boundClassical(classical, id, ek));
}

/**
 * The keys of the requester's own link (compact text): `{ claim, keys }` where `claim` is the
 * claim token and `keys` open the answer to request `id` (with note.openNote).
 */
export function answerKeys(compact, id) {
  const linkKeys = note.keysFromCompact(compact);
  if (linkKeys.raw.length !== note.SEED_LEN + note.CLASSICAL_LEN) {
    throw new note.EncodingError("compact recipient keys");
  }
  const { publicKey: ek } = ml_kem768.keygen(linkKeys.raw.slice(0, note.SEED_LEN));
  const bound = boundClassical(linkKeys.classical, id, ek);
  return {
    claim: note.claimTokens(linkKeys.raw, null).claim,
    keys: { raw: linkKeys.raw, dk: linkKeys.dk, classical: bound },
  };
}
