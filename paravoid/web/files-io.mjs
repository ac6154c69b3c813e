// The file transfers of the shell scripts (files-cli.mjs, request-cli.mjs), with the page's
// code (../assets/files.js): uploads sealed as streams, downloads opened as streams.
import { openAsBlob } from "node:fs";
import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";

import * as files from "../assets/files.js";

async function expect(response, status) {
  if (response.status !== status) {
    throw new Error(`${response.url}: HTTP ${response.status} ${await response.text()}`);
  }
  return response;
}

/** Seals each file at `paths` under `key` and uploads it to `server`; returns the manifest entries and upload ids. */
export async function uploadFiles(server, key, paths) {
  const entries = [];
  const ids = [];
  for (const [index, path] of paths.entries()) {
    const blob = await openAsBlob(path);
    entries.push({ name: basename(path), type: "application/octet-stream", size: blob.size });
    const uploaded = await expect(await fetch(`${server}/api/e2e/files`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: files.sealFileStream(key, index, blob),
      duplex: "half",
    }), 201);
    ids.push((await uploaded.json()).file_id);
  }
  return { entries, ids };
}

/** Downloads and opens each file of `bundle` (claimed note `id` on `origin`) into `dir`; returns their names. */
export async function downloadFiles(origin, id, token, bundle, dir) {
  const names = [];
  for (const [index, file] of bundle.files.entries()) {
    const download = await expect(await fetch(`${origin}/api/e2e/notes/${id}/files/${index}`, {
      headers: { authorization: `Bearer ${token}` },
    }), 200);
    const parts = [];
    for await (const part of files.openFileStream(bundle.key, index, file.size, download.body)) {
      parts.push(part);
    }
    await writeFile(join(dir, file.name), Buffer.concat(parts), { flag: "wx" });
    names.push(file.name);
  }
  return names;
}
