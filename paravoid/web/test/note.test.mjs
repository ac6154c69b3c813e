// The browser note library under node's test runner: round trips, the exact encoding, strict
// decoding, and the negative cases that must fail the same way as the Rust side.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as note from "../../assets/note.js";

const LIGHT = { m_cost_kib: 64, t_cost: 1, p_cost: 1 };
const text = new TextDecoder();

/** A deterministic byte source for known-answer checks. */
function counter(start = 1) {
  let next = start;
  return (n) => Uint8Array.from({ length: n }, () => (next++ & 0xff));
}

async function kind(promise) {
  try {
    await promise;
  } catch (err) {
    return err.kind || err.name;
  }
  return "opened";
}

test("seal then open, without a passphrase", async () => {
  const { note: sealed, keys, tokens } = await note.sealNote("héllo ✓");
  assert.equal(sealed.passphrase, null);
  assert.equal(sealed.ciphertext.length, new TextEncoder().encode("héllo ✓").length + 16);
  const compact = note.keysToCompact(keys);
  assert.equal(compact.length, 128);
  const opened = await note.openNote(sealed, note.keysFromCompact(compact));
  assert.equal(text.decode(opened), "héllo ✓");
  assert.equal(tokens.claim.length, 32);
  assert.equal(tokens.passphrase, null);
  assert.deepEqual(note.claimTokens(keys.raw, null).claim, tokens.claim);
});

test("seal then open, with a passphrase", async () => {
  const sealed = await note.sealNote("s3cret", { passphrase: "correct horse", costs: LIGHT });
  const keys = note.keysFromCompact(note.keysToCompact(sealed.keys));
  assert.equal(await kind(note.openNote(sealed.note, keys)), "passphrase-required");
  assert.equal(await kind(note.openNote(sealed.note, keys, "wrong horse")), "wrong-passphrase");
  assert.equal(text.decode(await note.openNote(sealed.note, keys, "correct horse")), "s3cret");
  // The passphrase token needs the Argon2id output of the right passphrase.
  const pw = await note.derivePassphrase("correct horse", sealed.note.passphrase);
  assert.deepEqual(note.claimTokens(keys.raw, pw).passphrase, sealed.tokens.passphrase);
  const wrong = await note.derivePassphrase("wrong horse", sealed.note.passphrase);
  assert.notDeepEqual(note.claimTokens(keys.raw, wrong).passphrase, sealed.tokens.passphrase);
  assert.notDeepEqual(sealed.tokens.claim, sealed.tokens.passphrase);
});

test("the default Argon2id costs are the Rust defaults", async () => {
  assert.deepEqual({ ...note.DEFAULT_COSTS }, { m_cost_kib: 19456, t_cost: 2, p_cost: 1 });
  const sealed = await note.sealNote("x", { passphrase: "pw" });
  assert.deepEqual(
    [sealed.note.passphrase.m_cost_kib, sealed.note.passphrase.t_cost, sealed.note.passphrase.p_cost],
    [19456, 2, 1],
  );
});

test("the encoding has the documented layout and round-trips exactly", async () => {
  const sealed = await note.sealNote("abc", { passphrase: "pw", costs: LIGHT, random: counter() });
  const bytes = note.noteToBytes(sealed.note);
  assert.deepEqual([...bytes.subarray(0, 6)], [0x51, 0x53, 0x4e, 0x54, 1, 1]);
  assert.deepEqual(bytes.subarray(6, 1190), sealed.note.ek);
  assert.deepEqual(bytes.subarray(1190, 2278), sealed.note.ct_kem);
  assert.deepEqual(bytes.subarray(2278, 2290), sealed.note.nonce);
  assert.deepEqual(bytes.subarray(2290, 2322), sealed.note.key_check);
  assert.deepEqual(bytes.subarray(2322, 2338), sealed.note.passphrase.salt);
  assert.deepEqual([...bytes.subarray(2338, 2354)], [64, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 19, 0, 0, 0]);
  assert.equal(bytes.length, 2354 + 19);
  assert.deepEqual(note.noteToBytes(note.noteFromBytes(bytes)), bytes);
  // Same randomness, same bytes: sealing is a function of its inputs.
  const again = await note.sealNote("abc", { passphrase: "pw", costs: LIGHT, random: counter() });
  assert.deepEqual(note.noteToBytes(again.note), bytes);
  assert.equal(note.keysToCompact(again.keys), note.keysToCompact(sealed.keys));
  // The link keys are the first 96 bytes drawn: seed, then classical secret.
  assert.deepEqual([...sealed.keys.raw.subarray(0, 3)], [1, 2, 3]);
});

test("truncated, extended or unknown encodings are rejected", async () => {
  const { note: sealed } = await note.sealNote("abc");
  const bytes = note.noteToBytes(sealed);
  for (const len of [0, 5, 6, 1190, 2322, 2325, bytes.length - 1]) {
    assert.throws(() => note.noteFromBytes(bytes.subarray(0, len)), note.EncodingError, `len ${len}`);
  }
  assert.throws(() => note.noteFromBytes(Uint8Array.of(...bytes, 0)), note.EncodingError);
  for (const [index, value] of [[0, 0x52], [4, 2], [5, 2], [5, 1]]) {
    const changed = bytes.slice();
    changed[index] = value;
    assert.throws(() => note.noteFromBytes(changed), note.EncodingError, `byte ${index}`);
  }
  const short = bytes.slice();
  short.set([15, 0, 0, 0], 2322); // ciphertext length below the tag
  assert.throws(() => note.noteFromBytes(short.subarray(0, 2326 + 15)), note.EncodingError);
});

test("out-of-bounds Argon2id costs are rejected", async () => {
  const sealed = await note.sealNote("abc", { passphrase: "pw", costs: LIGHT });
  const bytes = note.noteToBytes(sealed.note);
  for (const [offset, value] of [[2338, 7], [2338, 262145], [2342, 0], [2342, 17], [2346, 0], [2346, 17]]) {
    const changed = bytes.slice();
    new DataView(changed.buffer).setUint32(offset, value, true);
    assert.throws(() => note.noteFromBytes(changed), note.EncodingError, `${offset} = ${value}`);
  }
  await assert.rejects(note.sealNote("x", { passphrase: "pw", costs: { m_cost_kib: 7, t_cost: 1, p_cost: 1 } }));
  await assert.rejects(note.sealNote("x", { passphrase: "" }));
});

test("compact keys are strict base64url of 128 or 3243 characters", async () => {
  const { keys } = await note.sealNote("abc");
  const compact = note.keysToCompact(keys);
  assert.match(compact, /^[A-Za-z0-9_-]{128}$/);
  for (const bad of [
    compact.slice(0, 127),
    compact + "A",
    compact.slice(0, 126) + "==",
    compact.slice(0, 127) + "+",
    compact.slice(0, 127) + " ",
    "",
  ]) {
    assert.throws(() => note.keysFromCompact(bad), note.EncodingError, bad.slice(-4));
  }
  // 3243 characters end in a partial group: non-canonical trailing bits are refused.
  const expanded = note.toBase64url(new Uint8Array(2432));
  assert.equal(expanded.length, 3243);
  assert.throws(() => note.keysFromCompact(expanded.slice(0, 3242) + "B"), note.EncodingError);
});

test("base64url round-trips every length and refuses non-canonical input", () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const encoded = note.toBase64url(bytes);
    assert.equal(encoded, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(note.fromBase64url(encoded), bytes);
  }
  assert.throws(() => note.fromBase64url("AB"), note.EncodingError);
  assert.throws(() => note.fromBase64url("A"), note.EncodingError);
  assert.throws(() => note.fromBase64url("AA=="), note.EncodingError);
  assert.deepEqual(note.fromBase64url("AA"), Uint8Array.of(0));
});

test("keys imported from the expanded form open the note", async () => {
  const sealed = await note.sealNote("expanded");
  const raw = new Uint8Array(2432);
  raw.set(sealed.keys.dk);
  raw.set(sealed.keys.classical, 2400);
  const compact = note.toBase64url(raw);
  assert.equal(text.decode(await note.openNote(sealed.note, note.keysFromCompact(compact))), "expanded");
  const corrupted = raw.slice();
  corrupted[1152 + 5] ^= 1; // the embedded ek no longer matches H(ek)
  assert.throws(() => note.keysFromCompact(note.toBase64url(corrupted)), note.EncodingError);
});

test("a flipped byte or wrong keys fail as on the Rust side", async () => {
  for (const passphrase of [undefined, "pw"]) {
    const sealed = await note.sealNote("flip me", { passphrase, costs: LIGHT });
    const keys = sealed.keys;
    const bytes = note.noteToBytes(sealed.note);
    const expectTag = passphrase ? "wrong-passphrase" : "corrupt";
    const cases = [
      ["ek", 6 + 100, "wrong-keys"],
      ["ct_kem", 1190 + 7, "wrong-keys"],
      ["nonce", 2278, expectTag],
      ["key_check", 2290 + 31, "wrong-keys"],
      ["ciphertext", bytes.length - 20, expectTag],
      ["tag", bytes.length - 1, expectTag],
    ];
    if (passphrase) {
      cases.push(["salt", 2322, "wrong-keys"]);
    }
    for (const [what, index, expected] of cases) {
      const changed = bytes.slice();
      changed[index] ^= 0x01;
      const opened = note.noteFromBytes(changed);
      assert.equal(await kind(note.openNote(opened, keys, passphrase)), expected, `${what}, ${passphrase}`);
    }
    const other = await note.sealNote("other");
    assert.equal(await kind(note.openNote(sealed.note, other.keys, passphrase)), "wrong-keys");
    assert.throws(() => note.checkLinkKeys(sealed.note, other.keys), note.NoteError);
    note.checkLinkKeys(sealed.note, keys);
  }
});

test("the JSON form round-trips and refuses wrong lengths", async () => {
  const sealed = await note.sealNote("json", { passphrase: "pw", costs: LIGHT });
  const json = note.noteToJson(sealed.note);
  assert.deepEqual(note.noteToBytes(note.noteFromJson(json)), note.noteToBytes(sealed.note));
  for (const [field, value] of [
    ["ek", json.ek.slice(4)],
    ["nonce", note.toBase64url(new Uint8Array(11))],
    ["ciphertext", note.toBase64url(new Uint8Array(15))],
    ["key_check", json.key_check + "A"],
    ["ct_kem", 17],
  ]) {
    assert.throws(() => note.noteFromJson({ ...json, [field]: value }), note.EncodingError, field);
  }
  assert.throws(() => note.noteFromJson({ ...json, argon2id: { ...json.argon2id, t_cost: 0 } }));
});

test("an end-to-end link says so in its fragment; a bare one does not", async () => {
  const { keys } = await note.sealNote("x");
  const compact = note.keysToCompact(keys);
  const fragment = note.e2eFragment(keys);
  assert.equal(fragment, "e2e." + compact);
  assert.deepEqual(note.parseFragment("#" + fragment), { mode: "e2e", compact });
  assert.deepEqual(note.parseFragment(fragment), { mode: "e2e", compact });
  assert.deepEqual(note.parseFragment("#" + compact), { mode: "unmarked", compact });
  // The prefix is outside the base64url alphabet of the keys: no bare link can carry it.
  assert.throws(() => note.keysFromCompact(fragment), note.EncodingError);
  assert.deepEqual(note.parseFragment(""), { mode: "unmarked", compact: "" });
  assert.deepEqual(note.parseFragment(undefined), { mode: "unmarked", compact: "" });
  assert.deepEqual(note.parseFragment("#e2e."), { mode: "e2e", compact: "" });
});

test("public Argon2id parameters out of bounds are refused before any work", async () => {
  const salt = note.toBase64url(new Uint8Array(16).fill(7));
  const ok = { salt, m_cost_kib: 128, t_cost: 1, p_cost: 1 };
  assert.equal(note.argon2idFromJson(null), null);
  assert.equal(note.argon2idFromJson(undefined), null);
  assert.equal(note.argon2idFromJson(ok).m_cost_kib, 128);
  for (const bad of [
    { ...ok, m_cost_kib: note.MAX_M_COST_KIB + 1 },
    { ...ok, m_cost_kib: 4194304 },
    { ...ok, m_cost_kib: 127 },
    { ...ok, t_cost: note.MAX_T_COST + 1 },
    { ...ok, t_cost: 0 },
    { ...ok, p_cost: note.MAX_P_COST + 1 },
    { ...ok, p_cost: 0 },
    { ...ok, m_cost_kib: 1.5 },
    { ...ok, m_cost_kib: "128" },
    { ...ok, salt: note.toBase64url(new Uint8Array(15)) },
    { ...ok, salt: 5 },
    "argon2id",
  ]) {
    assert.throws(() => note.argon2idFromJson(bad), note.EncodingError, JSON.stringify(bad));
  }
  // derivePassphrase itself refuses them too, whoever calls it.
  const params = { salt: new Uint8Array(16), m_cost_kib: 128, t_cost: 1, p_cost: 1 };
  assert.equal((await note.derivePassphrase("pw", params)).length, 32);
  for (const bad of [
    { ...params, m_cost_kib: note.MAX_M_COST_KIB * 16 },
    { ...params, t_cost: 1000 },
    { ...params, p_cost: 64 },
    { ...params, salt: new Uint8Array(8) },
    null,
  ]) {
    await assert.rejects(note.derivePassphrase("pw", bad), note.EncodingError);
  }
});
