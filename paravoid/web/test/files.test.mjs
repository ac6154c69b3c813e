// Files of a note under node's test runner: the known answers of the Rust side
// (qsmm-shield/tests/attachment.rs), strict manifests, and every way a sealed stream can be cut,
// reordered or modified.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import * as files from "../../assets/files.js";

const KAT_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const KAT_HELLO_FILE_0 = "7fefa4ca78fde59f6ff1c1dd86660be2b4b1c5097c";
const KAT_EMPTY_FILE_1 = "760c9f6353f8dc260a7ec43b05b93245";
const KAT_THREE_CHUNKS_SHA256 = "72d5ab5897eb2c7ae414494574c560db8840c27edcb163f65fc6df1f2ea85389";
const KAT_BUNDLE = "0051534601000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0c0000007365652061747461636865640"
  + "20c72c3a973756dc3a92e7064660f6170706c69636174696f6e2f706466701101000000000005656d707479000000000000000000";

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251);

async function collect(stream) {
  const parts = [];
  for await (const part of stream) {
    parts.push(part);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** A ReadableStream of `bytes` cut into pieces of `piece` bytes (as a network would). */
function streamOf(bytes, piece = 1000) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

async function seal(key, index, data) {
  return collect(files.sealFileStream(key, index, new Blob([data])));
}

async function open(key, index, size, sealed, piece) {
  try {
    return await collect(files.openFileStream(key, index, size, streamOf(sealed, piece)));
  } catch (err) {
    return err.kind ?? String(err);
  }
}

test("known answers of the Rust side", async () => {
  assert.equal(hex(await seal(KAT_KEY, 0, new TextEncoder().encode("hello"))), KAT_HELLO_FILE_0);
  assert.equal(hex(await seal(KAT_KEY, 1, new Uint8Array(0))), KAT_EMPTY_FILE_1);
  const big = await seal(KAT_KEY, 2, pattern(2 * files.CHUNK_LEN + 5));
  assert.equal(big.length, files.sealedSize(2 * files.CHUNK_LEN + 5));
  assert.equal(createHash("sha256").update(big).digest("hex"), KAT_THREE_CHUNKS_SHA256);
  const bundle = files.bundleToBytes({
    message: new TextEncoder().encode("see attached"),
    key: KAT_KEY,
    files: [
      { name: "résumé.pdf", type: "application/pdf", size: 70000 },
      { name: "empty", type: "", size: 0 },
    ],
  });
  assert.equal(hex(bundle), KAT_BUNDLE);
});

test("round trips at the chunk boundaries, whatever the network's pieces", async () => {
  for (const size of [0, 1, files.CHUNK_LEN - 1, files.CHUNK_LEN, files.CHUNK_LEN + 1, 2 * files.CHUNK_LEN]) {
    const data = pattern(size);
    const sealed = await seal(KAT_KEY, 3, data);
    assert.equal(sealed.length, files.sealedSize(size), `size ${size}`);
    for (const piece of [1 << 20, 7919, 65552]) {
      assert.deepEqual(await open(KAT_KEY, 3, size, sealed, piece), data, `size ${size} piece ${piece}`);
    }
  }
});

test("truncation, dropped last chunk, reordering, trailing bytes and flips are refused", async () => {
  const data = pattern(2 * files.CHUNK_LEN + 5);
  const sealed = await seal(KAT_KEY, 0, data);
  const size = data.length;
  const S = files.SEALED_CHUNK_LEN;
  for (const cut of [0, 1, S - 1, S, 2 * S, sealed.length - 1]) {
    assert.equal(await open(KAT_KEY, 0, size, sealed.subarray(0, cut)), "corrupt", `cut ${cut}`);
  }
  assert.equal(await open(KAT_KEY, 0, 2 * files.CHUNK_LEN, sealed.subarray(0, 2 * S)), "corrupt");
  const [a, b, c] = [sealed.subarray(0, S), sealed.subarray(S, 2 * S), sealed.subarray(2 * S)];
  assert.equal(await open(KAT_KEY, 0, size, Buffer.concat([b, a, c])), "corrupt");
  assert.equal(await open(KAT_KEY, 0, size, Buffer.concat([a, a, c])), "corrupt");
  assert.equal(await open(KAT_KEY, 0, size, Buffer.concat([sealed, Uint8Array.of(0)])), "corrupt");
  assert.equal(await open(KAT_KEY, 1, size, sealed), "corrupt");
  assert.equal(await open(new Uint8Array(32).fill(7), 0, size, sealed), "corrupt");
  for (const at of [0, 100, S - 1, S, sealed.length - 1]) {
    const bad = sealed.slice();
    bad[at] ^= 1;
    assert.equal(await open(KAT_KEY, 0, size, bad), "corrupt", `flip at ${at}`);
  }
});

test("manifests decode strictly and names are safe", () => {
  const good = new Uint8Array(Buffer.from(KAT_BUNDLE, "hex"));
  const bundle = files.bundleFromBytes(good);
  assert.equal(new TextDecoder().decode(bundle.message), "see attached");
  assert.deepEqual(bundle.key, KAT_KEY);
  assert.deepEqual(bundle.files, [
    { name: "résumé.pdf", type: "application/pdf", size: 70000 },
    { name: "empty", type: "", size: 0 },
  ]);
  assert.equal(files.bundleFromBytes(new TextEncoder().encode("hello")), null);
  for (let cut = 4; cut < good.length; cut++) {
    assert.throws(() => files.bundleFromBytes(good.subarray(0, cut)), files.FileError, `cut ${cut}`);
  }
  assert.throws(() => files.bundleFromBytes(Buffer.concat([good, Uint8Array.of(0)])), files.FileError);
  const traversal = good.slice();
  traversal[Buffer.from(good).indexOf("pdf")] = 0x2f;
  assert.throws(() => files.bundleFromBytes(traversal), files.FileError);
  for (const name of ["", ".", "..", "a/b", "a\\b", "nul\0", "x".repeat(256), "é".repeat(128)]) {
    assert.throws(() => files.checkEntry({ name, type: "", size: 1 }), files.FileError, JSON.stringify(name));
  }
  for (const name of ["a", "...", ".hidden", "résumé.pdf", "x".repeat(255)]) {
    files.checkEntry({ name, type: "text/plain; charset=utf-8", size: 1 });
  }
  assert.throws(() => files.checkEntry({ name: "a", type: "", size: files.MAX_FILE_SIZE + 1 }));
});
