// paravoid's note format in the browser: the same bytes as `qsmm_shield::note` (Rust), so a note
// sealed here opens there and the other way round. ML-KEM-768, HKDF-SHA256, SHA-256 and Argon2id
// come from the vendored noble libraries (/assets/noble.js); AES-256-GCM from WebCrypto.
//
// Sealing (see qsmm-shield/src/note.rs for the reference):
//   seed ← 64 random bytes; (dk, ek) = ML-KEM-768.KeyGen(seed); (ct_kem, ss) = Encaps(ek)
//   classical ← 32 random bytes; with a passphrase: salt ← 16 random bytes,
//   pw = Argon2id(passphrase, salt, m, t, p, version 0x13) (32 bytes)
//   header = "QSNT" ‖ 0x01 ‖ flags ‖ SHA-256(ek) ‖ ct_kem [‖ salt ‖ m ‖ t ‖ p]; binding = SHA-256(header)
//   key_check = HKDF(ikm = ss ‖ classical, info = "qsmm/v1/shield/note/key-check" ‖ binding)
//   key = HKDF(ikm = ss ‖ classical [‖ pw], info = "qsmm/v1/shield/note/aead" ‖ binding)
//   ciphertext = AES-256-GCM(key, nonce ← 12 random bytes, AAD = header, plaintext)
//
// End-to-end claim tokens (paravoid only; the server keeps their SHA-256):
//   claim = HKDF(ikm = link keys, info = "paravoid/v1/e2e/claim")
//   passphrase token = HKDF(ikm = link keys ‖ pw, info = "paravoid/v1/e2e/passphrase")
// where "link keys" are the raw bytes of the compact form (seed ‖ classical).
import { argon2idAsync, hkdf, ml_kem768, sha256, sha3_256 } from "./noble.js";

export const SEED_LEN = 64;
export const CLASSICAL_LEN = 32;
export const EXPANDED_DK_LEN = 2400;
export const EK_LEN = 1184;
export const CT_KEM_LEN = 1088;
export const NONCE_LEN = 12;
export const KEY_CHECK_LEN = 32;
export const SALT_LEN = 16;
export const TAG_LEN = 16;
export const TOKEN_LEN = 32;

/** Argon2id costs of a new note: the Rust defaults (19 MiB, 2 passes, 1 lane). */
export const DEFAULT_COSTS = Object.freeze({ m_cost_kib: 19456, t_cost: 2, p_cost: 1 });
/** Bounds a stored note's costs must respect (as `PassphraseParams::validate`). */
export const MAX_M_COST_KIB = 262144;
export const MAX_T_COST = 16;
export const MAX_P_COST = 16;
/** Smallest memory cost the end-to-end API stores (`8 × MAX_P_COST`), so a peek must not offer less. */
export const MIN_E2E_M_COST_KIB = 8 * MAX_P_COST;
/**
 * What starts the fragment of an end-to-end link: `#e2e.<compact keys>`. The mode travels in
 * the link, so no answer of the server can make the reveal page send the keys anywhere. A bare
 * `#<compact keys>` is a link of the published API (the server seals and opens those notes).
 */
export const E2E_LINK_PREFIX = "e2e.";

const MAGIC = [0x51, 0x53, 0x4e, 0x54]; // "QSNT"
const VERSION = 1;
const FLAG_PASSPHRASE = 1;
const PARAMS_LEN = SALT_LEN + 12;
const COMPACT_SEED_CHARS = 128;
const COMPACT_EXPANDED_CHARS = 3243;
const encoder = new TextEncoder();
const LABEL = "qsmm/v1/shield/note";
const INFO_KEY_CHECK = encoder.encode(LABEL + "/key-check");
const INFO_AEAD = encoder.encode(LABEL + "/aead");
const INFO_CLAIM = encoder.encode("paravoid/v1/e2e/claim");
const INFO_PASSPHRASE = encoder.encode("paravoid/v1/e2e/passphrase");

/**
 * Why a note did not open, as `NoteOpenError` in Rust: `kind` is "wrong-keys",
 * "wrong-passphrase", "passphrase-required" or "corrupt".
 */
export class NoteError extends Error {
  constructor(kind) {
    super(kind === "wrong-passphrase" ? "wrong passphrase"
      : kind === "passphrase-required" ? "passphrase required" : "decryption failed");
    this.name = "NoteError";
    this.kind = kind;
  }
}

/** A malformed encoding (stored note, compact keys, base64url). */
export class EncodingError extends Error {
  constructor(what) {
    super("invalid " + what);
    this.name = "EncodingError";
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u32le(value) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) {
    return false;
  }
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    diff |= a[i] ^ b[i];
  }
  return diff === 0;
}

function wipe(...buffers) {
  for (const buffer of buffers) {
    if (buffer) {
      buffer.fill(0);
    }
  }
}

/** Fresh random bytes from the platform's CSPRNG. */
export function randomBytes(length) {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

// ---- base64url (RFC 4648 §5), unpadded and strict ----

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  DECODE[ALPHABET.charCodeAt(i)] = i;
}

/** Unpadded base64url of `bytes`. */
export function toBase64url(bytes) {
  let out = "";
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/**
 * Decodes unpadded base64url strictly: only the alphabet, no padding or whitespace, canonical
 * trailing bits (as Rust's `URL_SAFE_NO_PAD`). Throws EncodingError otherwise.
 */
export function fromBase64url(text, what = "base64url") {
  if (typeof text !== "string" || text.length % 4 === 1) {
    throw new EncodingError(what);
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const digit = code < 128 ? DECODE[code] : -1;
    if (digit < 0) {
      throw new EncodingError(what);
    }
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
    value &= (1 << bits) - 1;
  }
  if (value !== 0) {
    throw new EncodingError(what); // non-canonical trailing bits
  }
  return out;
}

// ---- the stored note ----

/** Checks Argon2id costs as `PassphraseParams::validate`. */
export function validCosts(params) {
  const { m_cost_kib: m, t_cost: t, p_cost: p } = params;
  return Number.isInteger(m) && Number.isInteger(t) && Number.isInteger(p)
    && p >= 1 && p <= MAX_P_COST && t >= 1 && t <= MAX_T_COST
    && m <= MAX_M_COST_KIB && m >= 8 * p;
}

function encodeParams(params) {
  return concat(params.salt, u32le(params.m_cost_kib), u32le(params.t_cost), u32le(params.p_cost));
}

/** The header: AES-GCM associated data and, hashed, the HKDF binding. */
function noteHeader(note) {
  return concat(
    Uint8Array.from(MAGIC),
    Uint8Array.of(VERSION, note.passphrase ? FLAG_PASSPHRASE : 0),
    sha256(note.ek),
    note.ct_kem,
    note.passphrase ? encodeParams(note.passphrase) : new Uint8Array(0),
  );
}

/** The versioned encoding of `StoredNote::to_bytes`. */
export function noteToBytes(note) {
  return concat(
    Uint8Array.from(MAGIC),
    Uint8Array.of(VERSION, note.passphrase ? FLAG_PASSPHRASE : 0),
    note.ek,
    note.ct_kem,
    note.nonce,
    note.key_check,
    note.passphrase ? encodeParams(note.passphrase) : new Uint8Array(0),
    u32le(note.ciphertext.length),
    note.ciphertext,
  );
}

/** Decodes `noteToBytes` output, checking every length (as `StoredNote::from_bytes`). */
export function noteFromBytes(bytes) {
  const fail = () => new EncodingError("stored note");
  let at = 0;
  const take = (n) => {
    if (at + n > bytes.length) {
      throw fail();
    }
    const part = bytes.slice(at, at + n);
    at += n;
    return part;
  };
  const u32 = () => new DataView(take(4).buffer).getUint32(0, true);
  const magic = take(4);
  const [version, flags] = take(2);
  if (!equal(magic, Uint8Array.from(MAGIC)) || version !== VERSION || (flags & ~FLAG_PASSPHRASE) !== 0) {
    throw fail();
  }
  const ek = take(EK_LEN);
  const ct_kem = take(CT_KEM_LEN);
  const nonce = take(NONCE_LEN);
  const key_check = take(KEY_CHECK_LEN);
  let passphrase = null;
  if (flags & FLAG_PASSPHRASE) {
    passphrase = { salt: take(SALT_LEN), m_cost_kib: u32(), t_cost: u32(), p_cost: u32() };
    if (!validCosts(passphrase)) {
      throw fail();
    }
  }
  const length = u32();
  if (length < TAG_LEN) {
    throw fail();
  }
  const ciphertext = take(length);
  if (at !== bytes.length) {
    throw fail();
  }
  return { ek, ct_kem, nonce, key_check, passphrase, ciphertext };
}

function checkShape(note) {
  const ok = note && note.ek instanceof Uint8Array && note.ek.length === EK_LEN
    && note.ct_kem instanceof Uint8Array && note.ct_kem.length === CT_KEM_LEN
    && note.nonce instanceof Uint8Array && note.nonce.length === NONCE_LEN
    && note.key_check instanceof Uint8Array && note.key_check.length === KEY_CHECK_LEN
    && note.ciphertext instanceof Uint8Array && note.ciphertext.length >= TAG_LEN
    && (!note.passphrase || (note.passphrase.salt instanceof Uint8Array
      && note.passphrase.salt.length === SALT_LEN && validCosts(note.passphrase)));
  if (!ok) {
    throw new NoteError("corrupt");
  }
}

// ---- the link keys ----

/**
 * Link keys from their compact text (the URL fragment): 128 characters (seed ‖ classical) or
 * 3243 characters (expanded dk ‖ classical), strict as `RecipientKeys::from_compact`.
 * Returns `{ raw, dk, classical }` where `raw` are the decoded bytes.
 */
export function keysFromCompact(text) {
  const what = "compact recipient keys";
  if (typeof text !== "string"
    || (text.length !== COMPACT_SEED_CHARS && text.length !== COMPACT_EXPANDED_CHARS)) {
    throw new EncodingError(what);
  }
  const raw = fromBase64url(text, what);
  const split = raw.length - CLASSICAL_LEN;
  const classical = raw.slice(split);
  if (split === SEED_LEN) {
    return { raw, dk: ml_kem768.keygen(raw.slice(0, SEED_LEN)).secretKey, classical };
  }
  const dk = raw.slice(0, split);
  // FIPS 203 §7.3: the embedded H(ek) must match the embedded ek.
  const ek = dk.subarray(1152, 1152 + EK_LEN);
  if (!equal(sha3_256(ek), dk.subarray(1152 + EK_LEN, 1152 + EK_LEN + 32))) {
    throw new EncodingError(what);
  }
  return { raw, dk, classical };
}

/** The compact text of link keys made by `sealNote`. */
export function keysToCompact(keys) {
  return toBase64url(keys.raw);
}

/** The fragment of an end-to-end link (after the `#`): the prefix, then the compact keys. */
export function e2eFragment(keys) {
  return E2E_LINK_PREFIX + keysToCompact(keys);
}

/**
 * What a link's fragment (with or without its `#`) says about the note: `{ mode, compact }`
 * where `mode` is "e2e" for an end-to-end link (the prefix) and "unmarked" for bare compact
 * keys (a published-API link, or an end-to-end link made before the prefix existed). Only the
 * shape is read here: `keysFromCompact` checks the keys.
 */
export function parseFragment(fragment) {
  const text = typeof fragment === "string" ? fragment.replace(/^#/, "") : "";
  if (text.startsWith(E2E_LINK_PREFIX)) {
    return { mode: "e2e", compact: text.slice(E2E_LINK_PREFIX.length) };
  }
  return { mode: "unmarked", compact: text };
}

/**
 * The public Argon2id parameters an end-to-end peek or claim answer carries (`argon2id`:
 * base64url salt and costs) as `{ salt, m_cost_kib, t_cost, p_cost }`, or null when there are
 * none. Throws EncodingError on a malformed salt or on costs the end-to-end API would not store.
 */
export function argon2idFromJson(json) {
  if (json === undefined || json === null) {
    return null;
  }
  if (typeof json !== "object") {
    throw new EncodingError("argon2id");
  }
  const params = {
    salt: fromBase64url(json.salt, "salt"),
    m_cost_kib: json.m_cost_kib,
    t_cost: json.t_cost,
    p_cost: json.p_cost,
  };
  if (params.salt.length !== SALT_LEN || !validCosts(params)
    || params.m_cost_kib < MIN_E2E_M_COST_KIB) {
    throw new EncodingError("argon2id");
  }
  return params;
}

// ---- sealing and opening ----

function hkdf32(ikm, info, binding) {
  return hkdf(sha256, ikm, undefined, binding ? concat(info, binding) : info, 32);
}

async function aesGcm(mode, key, nonce, header, data) {
  const usage = mode === "encrypt" ? ["encrypt"] : ["decrypt"];
  const cryptoKey = await globalThis.crypto.subtle.importKey("raw", key, "AES-GCM", false, usage);
  const algorithm = { name: "AES-GCM", iv: nonce, additionalData: header, tagLength: 128 };
  const out = mode === "encrypt"
    ? await globalThis.crypto.subtle.encrypt(algorithm, cryptoKey, data)
    : await globalThis.crypto.subtle.decrypt(algorithm, cryptoKey, data);
  return new Uint8Array(out);
}

/**
 * Argon2id(passphrase, salt) with the note's costs → 32 bytes. Refuses (EncodingError) a salt
 * that is not 16 bytes and costs out of the Rust bounds (`PassphraseParams::validate`), so a
 * server or a sender cannot make the tab spin or allocate without limit.
 */
export async function derivePassphrase(passphrase, params, onProgress) {
  if (!params || !(params.salt instanceof Uint8Array) || params.salt.length !== SALT_LEN
    || !validCosts(params)) {
    throw new EncodingError("argon2id");
  }
  const bytes = typeof passphrase === "string" ? encoder.encode(passphrase) : passphrase;
  return argon2idAsync(bytes, params.salt, {
    m: params.m_cost_kib,
    t: params.t_cost,
    p: params.p_cost,
    dkLen: 32,
    version: 0x13,
    maxmem: (MAX_M_COST_KIB + 1) * 1024,
    onProgress,
  });
}

/**
 * Seals `plaintext` (string or bytes). Options: `passphrase` (string or bytes, not empty),
 * `costs` (Argon2id `{m_cost_kib, t_cost, p_cost}`, default DEFAULT_COSTS), `random` (a
 * function n → n random bytes; tests only), `onProgress` (Argon2id progress, 0..1).
 *
 * Returns `{ note, keys, tokens }`: the stored note (public), the link keys (secret; their
 * compact form goes in the URL fragment) and the claim tokens `{ claim, passphrase }`
 * (`passphrase` null without one) whose SHA-256 the server keeps.
 */
export async function sealNote(plaintext, options = {}) {
  const random = options.random || randomBytes;
  const message = typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext;
  const seed = random(SEED_LEN);
  const classical = random(CLASSICAL_LEN);
  const nonce = random(NONCE_LEN);
  const encapsulationSeed = random(32);
  const { publicKey: ek, secretKey: dk } = ml_kem768.keygen(seed);
  const { cipherText: ct_kem, sharedSecret: ss } = ml_kem768.encapsulate(ek, encapsulationSeed);
  let passphrase = null;
  let pw = null;
  if (options.passphrase !== undefined && options.passphrase !== null) {
    const bytes = typeof options.passphrase === "string"
      ? encoder.encode(options.passphrase) : options.passphrase;
    if (bytes.length === 0) {
      throw new Error("empty passphrase");
    }
    const costs = options.costs || DEFAULT_COSTS;
    passphrase = { salt: random(SALT_LEN), ...costs };
    if (!validCosts(passphrase)) {
      throw new Error("Argon2id costs out of bounds");
    }
    pw = await derivePassphrase(bytes, passphrase, options.onProgress);
  }
  const note = { ek, ct_kem, nonce, key_check: null, passphrase, ciphertext: null };
  const header = noteHeader(note);
  const binding = sha256(header);
  const base = concat(ss, classical);
  note.key_check = hkdf32(base, INFO_KEY_CHECK, binding);
  const ikm = pw ? concat(base, pw) : base;
  const key = hkdf32(ikm, INFO_AEAD, binding);
  note.ciphertext = await aesGcm("encrypt", key, nonce, header, message);
  const raw = concat(seed, classical);
  const keys = { raw, dk, classical };
  const tokens = claimTokens(raw, pw);
  wipe(seed, ss, base, ikm, key, pw, encapsulationSeed);
  return { note, keys, tokens };
}

/**
 * The claim tokens of link keys (raw bytes) and, for a passphrase note, the Argon2id output:
 * `{ claim, passphrase }`, 32 bytes each (`passphrase` null without `pw`).
 */
export function claimTokens(raw, pw) {
  return {
    claim: hkdf32(raw, INFO_CLAIM),
    passphrase: pw ? hkdf32(concat(raw, pw), INFO_PASSPHRASE) : null,
  };
}

/** SHA-256 of a token: what the server stores. */
export function tokenHash(token) {
  return sha256(token);
}

/** Whether `keys` are this note's link keys (constant-time compare of key_check). */
function decapsulateAndCheck(note, keys) {
  checkShape(note);
  const header = noteHeader(note);
  const binding = sha256(header);
  let ss;
  try {
    ss = ml_kem768.decapsulate(note.ct_kem, keys.dk);
  } catch (_) {
    throw new NoteError("corrupt");
  }
  const base = concat(ss, keys.classical);
  wipe(ss);
  const expected = hkdf32(base, INFO_KEY_CHECK, binding);
  if (!equal(expected, note.key_check)) {
    wipe(base);
    throw new NoteError("wrong-keys");
  }
  return { header, binding, base };
}

/**
 * Opens a note with its link keys (from `keysFromCompact`) and, if it has one, its passphrase
 * (string or bytes; ignored for a note without). Returns the plaintext bytes.
 * Throws NoteError: "corrupt", "wrong-keys", "passphrase-required", "wrong-passphrase" — the
 * same outcomes as `open_note_with_passphrase`.
 */
export async function openNote(note, keys, passphrase, onProgress) {
  const { header, binding, base } = decapsulateAndCheck(note, keys);
  let pw = null;
  if (note.passphrase) {
    if (passphrase === undefined || passphrase === null) {
      wipe(base);
      throw new NoteError("passphrase-required");
    }
    try {
      pw = await derivePassphrase(passphrase, note.passphrase, onProgress);
    } catch (err) {
      wipe(base);
      throw err;
    }
  }
  return decrypt(note, header, binding, base, pw);
}

/**
 * Like `openNote`, with the Argon2id output `pw` already derived (from `derivePassphrase` with
 * this note's parameters), so a page that derived it for its passphrase token does not pay for
 * Argon2id twice. `pw` is ignored for a note without a passphrase.
 */
export async function openNoteWithDerived(note, keys, pw) {
  const { header, binding, base } = decapsulateAndCheck(note, keys);
  if (note.passphrase && !pw) {
    wipe(base);
    throw new NoteError("passphrase-required");
  }
  return decrypt(note, header, binding, base, note.passphrase ? pw : null);
}

async function decrypt(note, header, binding, base, pw) {
  const ikm = pw ? concat(base, pw) : base;
  const key = hkdf32(ikm, INFO_AEAD, binding);
  wipe(base, ikm);
  try {
    return await aesGcm("decrypt", key, note.nonce, header, note.ciphertext);
  } catch (_) {
    throw new NoteError(note.passphrase ? "wrong-passphrase" : "corrupt");
  } finally {
    wipe(key);
  }
}

/** Whether two Argon2id parameter sets (salt and costs) are the same. */
export function sameParams(a, b) {
  return Boolean(a && b) && equal(a.salt, b.salt) && a.m_cost_kib === b.m_cost_kib
    && a.t_cost === b.t_cost && a.p_cost === b.p_cost;
}

/** Checks that `keys` are the note's link keys without decrypting; throws NoteError if not. */
export function checkLinkKeys(note, keys) {
  wipe(decapsulateAndCheck(note, keys).base);
}

// ---- the end-to-end API's JSON form ----

/** The sealed note as the end-to-end API's fields (base64url). */
export function noteToJson(note) {
  const json = {
    ek: toBase64url(note.ek),
    ct_kem: toBase64url(note.ct_kem),
    nonce: toBase64url(note.nonce),
    key_check: toBase64url(note.key_check),
    ciphertext: toBase64url(note.ciphertext),
  };
  if (note.passphrase) {
    json.argon2id = {
      salt: toBase64url(note.passphrase.salt),
      m_cost_kib: note.passphrase.m_cost_kib,
      t_cost: note.passphrase.t_cost,
      p_cost: note.passphrase.p_cost,
    };
  }
  return json;
}

/** The sealed note from the end-to-end API's fields; throws EncodingError if malformed. */
export function noteFromJson(json) {
  if (!json || typeof json !== "object") {
    throw new EncodingError("sealed note");
  }
  const field = (name, length) => {
    const bytes = fromBase64url(json[name], name);
    if (length !== undefined && bytes.length !== length) {
      throw new EncodingError(name);
    }
    return bytes;
  };
  let passphrase = null;
  if (json.argon2id !== undefined && json.argon2id !== null) {
    const a = json.argon2id;
    passphrase = {
      salt: fromBase64url(a.salt, "salt"),
      m_cost_kib: a.m_cost_kib,
      t_cost: a.t_cost,
      p_cost: a.p_cost,
    };
    if (passphrase.salt.length !== SALT_LEN || !validCosts(passphrase)) {
      throw new EncodingError("argon2id");
    }
  }
  const note = {
    ek: field("ek", EK_LEN),
    ct_kem: field("ct_kem", CT_KEM_LEN),
    nonce: field("nonce", NONCE_LEN),
    key_check: field("key_check", KEY_CHECK_LEN),
    ciphertext: field("ciphertext"),
    passphrase,
  };
  if (note.ciphertext.length < TAG_LEN) {
    throw new EncodingError("ciphertext");
  }
  return note;
}
