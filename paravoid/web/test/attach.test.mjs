// The pages' file transfer code (assets/attach.js) under node's test runner, against a stand-in
// `fetch`: a file sealed and uploaded comes back byte for byte; a changed, cut or lengthened
// download is refused; the checks the create page makes before sending (limits, names) and the
// sizes the reveal page compares with the claim.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import * as attach from "../../assets/attach.js";
import { FileError, newFileKey, sealedSize } from "../../assets/files.js";

const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");

function noise(length) {
  const out = new Uint8Array(length);
  let state = 0x12345678;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

// A stand-in server: keeps uploads, hands each out once with the right token; `alter` may
// change the stored bytes before they go out.
function fakeServer(alter = (bytes) => bytes) {
  const stored = [];
  const requests = [];
  globalThis.fetch = async (url, init) => {
    requests.push({ url, init });
    if (url === "/api/e2e/files" && init.method === "POST") {
      const bytes = new Uint8Array(await init.body.arrayBuffer());
      stored.push(bytes);
      const id = "00000000-0000-4000-8000-" + String(stored.length - 1).padStart(12, "0");
      return Response.json({ file_id: id, sealed_size: bytes.length, expires_at: 1 }, { status: 201 });
    }
    const match = /^\/api\/e2e\/notes\/note\/files\/(\d+)$/.exec(url);
    if (match && init.headers.Authorization === "Bearer token" && stored[match[1]]) {
      const bytes = alter(stored[match[1]]);
      stored[match[1]] = null;
      return new Response(bytes, { status: 200 });
    }
    return Response.json({ error: "not found" }, { status: 404 });
  };
  return { stored, requests };
}

const entryOf = (blob, name) => ({ name, type: "", size: blob.size });

test("a file uploads sealed and downloads once, byte for byte", async () => {
  const server = fakeServer();
  const key = newFileKey();
  const content = noise(3 * 65536 + 100);
  const file = new Blob([content]);
  const id = await attach.uploadFile(key, 0, file);
  assert.match(id, /^00000000-0000-4000-8000-0{12}$/);
  assert.equal(server.stored[0].length, sealedSize(content.length));
  // The upload holds no run of the plaintext.
  assert.ok(!Buffer.from(server.stored[0]).includes(Buffer.from(content.subarray(1000, 1032))));
  const blob = await attach.downloadFile("note", 0, "token", key, entryOf(file, "a"));
  assert.equal(sha(new Uint8Array(await blob.arrayBuffer())), sha(content));
  await assert.rejects(attach.downloadFile("note", 0, "token", key, entryOf(file, "a")),
    (err) => err instanceof attach.TransferError && err.status === 404);
  assert.equal(server.requests[0].init.credentials, "omit");
  assert.equal(server.requests[0].init.redirect, "error");
});

test("an empty file and a file of exactly one chunk cross too", async () => {
  fakeServer();
  const key = newFileKey();
  for (const [index, length] of [[0, 0], [1, 65536]]) {
    const content = noise(length);
    await attach.uploadFile(key, index, new Blob([content]));
    const blob = await attach.downloadFile("note", index, "token", key,
      { name: "f", type: "", size: length });
    assert.equal(sha(new Uint8Array(await blob.arrayBuffer())), sha(content));
  }
});

test("a changed, cut, lengthened or misplaced download is refused", async () => {
  const cases = [
    (bytes) => { const out = bytes.slice(); out[70000] ^= 1; return out; },
    (bytes) => bytes.subarray(0, bytes.length - 1),
    (bytes) => bytes.subarray(0, 65552),
    (bytes) => { const out = new Uint8Array(bytes.length + 1); out.set(bytes); return out; },
  ];
  for (const alter of cases) {
    fakeServer(alter);
    const key = newFileKey();
    const file = new Blob([noise(2 * 65536 + 7)]);
    await attach.uploadFile(key, 0, file);
    await assert.rejects(attach.downloadFile("note", 0, "token", key, entryOf(file, "a")),
      (err) => err instanceof FileError && err.kind === "corrupt");
  }
  // Another file key, or file 0's bytes served as file 1: another key, refused.
  fakeServer();
  const key = newFileKey();
  const file = new Blob([noise(10)]);
  await attach.uploadFile(key, 0, file);
  await attach.uploadFile(key, 0, file);
  await assert.rejects(attach.downloadFile("note", 0, "token", newFileKey(), entryOf(file, "a")),
    (err) => err instanceof FileError && err.kind === "corrupt");
  await assert.rejects(attach.downloadFile("note", 1, "token", key, entryOf(file, "a")),
    (err) => err instanceof FileError && err.kind === "corrupt");
});

test("the server's refusal of an upload is reported with its reason", async () => {
  globalThis.fetch = async () => Response.json({ error: "file too large: at most 5 bytes" },
    { status: 413 });
  await assert.rejects(attach.uploadFile(newFileKey(), 0, new Blob([noise(6)])),
    (err) => err instanceof attach.TransferError && err.status === 413
      && err.message === "file too large: at most 5 bytes");
  globalThis.fetch = async () => Response.json({ file_id: "x", sealed_size: 22 }, { status: 201 });
  await assert.rejects(attach.uploadFile(newFileKey(), 0, new Blob([noise(6)])),
    attach.TransferError);
});

test("the create page's checks: limits, count and names", () => {
  const limits = { files: true, maxFileBytes: 1024, maxFiles: 2 };
  const file = (name, size) => ({ name, size, type: "text/plain" });
  assert.equal(attach.refuseFiles([file("a.txt", 1024)], limits), null);
  assert.equal(attach.refuseFiles([file("a.txt", 1025)], limits),
    "\u201ca.txt\u201d is 1.0 KiB: this server takes files of up to 1.0 KiB.");
  assert.match(attach.refuseFiles([file("a", 1), file("b", 1), file("c", 1)], limits),
    /^At most 2 files per note; 3 are chosen\.$/);
  assert.match(attach.refuseFiles([file("a\nb", 1)], limits), /cannot be sent/);
  assert.match(attach.refuseFiles([file("..", 1)], limits), /cannot be sent/);
  assert.equal(attach.refuseFiles([file("x".repeat(255), 1)], null), null);
  assert.match(attach.refuseFiles([file("é".repeat(128), 1)], null), /cannot be sent/);
  assert.deepEqual(attach.fileEntry({ name: "n", size: 3, type: "text/ünïcode" }),
    { name: "n", size: 3, type: "" });
  assert.equal(attach.formatSize(0), "0 bytes");
  assert.equal(attach.formatSize(1), "1 byte");
  assert.equal(attach.formatSize(20 * 1024 * 1024), "20.0 MiB");
  assert.equal(attach.formatSize(1536), "1.5 KiB");
});

test("the claim's sealed sizes must match the manifest", () => {
  const entries = [{ size: 0 }, { size: 65537 }];
  assert.ok(attach.sizesMatch(entries, [16, 65537 + 32]));
  assert.ok(!attach.sizesMatch(entries, [16, 65537 + 16]));
  assert.ok(!attach.sizesMatch(entries, [16]));
  assert.ok(!attach.sizesMatch(entries, undefined));
});
