// Request-a-secret in the browser code under node's test runner: the request-bound classical
// secret (known answer shared with paravoid-cli's Rust tests), link fragments, and answers that
// open only with the requester's keys and the right request id.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as note from "../../assets/note.js";
import * as request from "../../assets/request.js";
import { ml_kem768 } from "../../assets/noble.js";

const ID = "00000000-0000-0000-0000-000000001234";
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("the bound classical secret is the Rust one", () => {
  const { publicKey: ek } = ml_kem768.keygen(new Uint8Array(64).fill(7));
  const bound = request.boundClassical(new Uint8Array(32).fill(9), ID, ek);
  assert.equal(hex(bound), "3277fee639508b3e9cfad37ca228ae7152cf56e07b023736c02a444827170c7a");
  assert.throws(() => request.boundClassical(new Uint8Array(32), "not-a-uuid", ek), note.EncodingError);
});

test("an answer opens with the own link for its request only", async () => {
  const keys = request.makeRequestKeys();
  const parsed = request.parseRequestFragment("#" + request.requestFragment(keys));
  assert.equal(parsed.kind, "request");
  const sealed = await request.sealAnswer(new TextEncoder().encode("s3cret"), parsed.ek, parsed.classical, ID);
  const own = request.parseRequestFragment(request.ownFragment(keys));
  assert.equal(own.kind, "own");
  const { claim, keys: openKeys } = request.answerKeys(own.compact, ID);
  assert.deepEqual(claim, keys.claim);
  assert.equal(new TextDecoder().decode(await note.openNote(sealed, openKeys)), "s3cret");
  const other = request.answerKeys(own.compact, "00000000-0000-0000-0000-000000009999").keys;
  await assert.rejects(note.openNote(sealed, other), (err) => err.kind === "wrong-keys");
  const tampered = { ...sealed, ciphertext: sealed.ciphertext.slice() };
  tampered.ciphertext[0] ^= 1;
  await assert.rejects(note.openNote(tampered, openKeys), (err) => err.kind === "corrupt");
});

test("request fragments are strict", async () => {
  assert.equal(request.parseRequestFragment("#e2e.abc").kind, "none");
  assert.equal(request.parseRequestFragment(undefined).kind, "none");
  assert.throws(() => request.parseRequestFragment("#req.AAAA"), note.EncodingError);
  assert.throws(() => request.parseRequestFragment("#req.%%"), note.EncodingError);
  await assert.rejects(request.sealNoteTo(new Uint8Array(1), new Uint8Array(3), new Uint8Array(32)), note.EncodingError);
});
