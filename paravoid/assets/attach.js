// paravoid pages: the files of an end-to-end note, shared by the create and reveal pages and by
// the request page (ask.js), whose answers carry files the same way.
//
// Upload: each file is sealed in 64 KiB chunks (files.js, the format of `qsmm_shield::attachment`)
// read from the File one slice at a time; the sealed chunks are gathered into a Blob, which the
// browser keeps outside the script's memory (on disk when large), and posted to
// `/api/e2e/files`. (A streamed request body would need HTTP/2; a Blob works on every server.)
// Download: the sealed stream from `/api/e2e/notes/{id}/files/{index}` (with the claim's Bearer
// token) is opened chunk by chunk as it arrives and gathered into a Blob again, which is saved
// under the manifest's name with an `<a download>`: the content is never shown, parsed or
// opened by the page, and names are set as text only.
import {
  FileError, MAX_FILES, bundleToBytes, checkEntry, newFileKey, openFileStream, sealFileStream,
  sealedSize,
} from "./files.js";

/** Sealed or opened chunks gathered in the script before they join the Blob (about 1 MiB). */
const PARTS_PER_BLOB = 16;

/** What the server accepts, from `GET /api/e2e/limits`, or null when it did not say. */
export async function fetchLimits() {
  try {
    const response = await fetch("/api/e2e/limits", {
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      return null;
    }
    const body = await response.json();
    if (!body || typeof body.files !== "boolean" || !Number.isSafeInteger(body.max_file_bytes)
      || !Number.isSafeInteger(body.max_files)) {
      return null;
    }
    return {
      files: body.files,
      maxFileBytes: body.max_file_bytes,
      maxFiles: Math.min(body.max_files, MAX_FILES),
    };
  } catch (_) {
    return null;
  }
}

/** A size for people: "512 bytes", "1.5 KiB", "20.0 MiB". */
export function formatSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 1024) {
    return bytes + (bytes === 1 ? " byte" : " bytes");
  }
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  do {
    value /= 1024;
    unit++;
  } while (value >= 1024 && unit < units.length - 1);
  return value.toFixed(1) + " " + units[unit];
}

/** The manifest entry of a chosen File: its name, a media type the format takes, its size. */
export function fileEntry(file) {
  const type = typeof file.type === "string" && file.type.length <= 127
    && /^[\x20-\x7e]*$/.test(file.type) ? file.type : "";
  return { name: file.name, type, size: file.size };
}

/**
 * Why the chosen files cannot be sent (one sentence), or null when they can: the number of
 * files, each size against the server's limit, and each name against the format's rules.
 */
export function refuseFiles(files, limits) {
  const maxFiles = limits ? limits.maxFiles : MAX_FILES;
  if (files.length > maxFiles) {
    return "At most " + maxFiles + " files per note; " + files.length + " are chosen.";
  }
  for (const file of files) {
    if (limits && file.size > limits.maxFileBytes) {
      return "\u201c" + file.name + "\u201d is " + formatSize(file.size)
        + ": this server takes files of up to " + formatSize(limits.maxFileBytes) + ".";
    }
    try {
      checkEntry(fileEntry(file));
    } catch (_) {
      return "\u201c" + file.name + "\u201d cannot be sent: a file name must be 1 to 255 bytes, "
        + "without control characters, / or \\.";
    }
  }
  return null;
}

/**
 * Fills `list` (a `<ul>`) with one item per entry: the name, the size and the type, as text.
 * `action(entry, index)`, when given, returns an element appended to each item (a button).
 */
export function listFiles(list, entries, action) {
  list.replaceChildren();
  entries.forEach(function (entry, index) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = entry.name;
    const details = document.createElement("span");
    details.className = "file-details";
    details.textContent = formatSize(entry.size) + (entry.type ? ", " + entry.type : "");
    item.append(name, " ", details);
    if (action) {
      item.append(" ", action(entry, index));
    }
    list.append(item);
  });
  list.hidden = entries.length === 0;
}

/** Why the server refused an upload or a download, from its JSON error body. */
export class TransferError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "TransferError";
    this.status = status;
  }
}

/** Gathers a stream of Uint8Array chunks into a Blob, a megabyte at a time; returns it and its size. */
async function gather(stream) {
  const reader = stream.getReader();
  let blob = new Blob([]);
  let parts = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    parts.push(value);
    size += value.length;
    if (parts.length >= PARTS_PER_BLOB) {
      blob = new Blob([blob, ...parts]);
      parts = [];
    }
  }
  return { blob: new Blob([blob, ...parts], { type: "application/octet-stream" }), size };
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string" && body.error.length > 0) {
      return body.error;
    }
  } catch (_) {
    // Not JSON: the status below.
  }
  return "the server answered " + response.status;
}

/**
 * Seals `file` as file `index` under `fileKey` and uploads it; returns its upload id. Throws
 * TransferError with the server's reason when refused (413 for a file over the limit).
 */
export async function uploadFile(fileKey, index, file) {
  const { blob, size } = await gather(sealFileStream(fileKey, index, file));
  if (size !== sealedSize(file.size)) {
    throw new FileError("corrupt", "the file changed while it was read");
  }
  const response = await fetch("/api/e2e/files", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", Accept: "application/json" },
    body: blob,
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) {
    throw new TransferError(response.status, await errorMessage(response));
  }
  const answer = await response.json();
  if (!answer || typeof answer.file_id !== "string"
    || !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(answer.file_id)
    || answer.sealed_size !== size) {
    throw new TransferError(response.status, "the server sent an unexpected answer");
  }
  return answer.file_id;
}

/**
 * Downloads file `index` of claimed note `id` (path-encoded) with the claim's `token` and opens
 * it under `fileKey` as the manifest `entry` says; returns the plaintext as a Blob. Throws
 * TransferError (refused: 404 once downloaded or expired) or FileError("corrupt") when the
 * bytes do not open, are cut short or run long.
 */
export async function downloadFile(id, index, token, fileKey, entry) {
  const response = await fetch("/api/e2e/notes/" + id + "/files/" + index, {
    method: "GET",
    headers: { Authorization: "Bearer " + token, Accept: "application/octet-stream" },
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok || !response.body) {
    throw new TransferError(response.status, await errorMessage(response));
  }
  const { blob, size } = await gather(openFileStream(fileKey, index, entry.size, response.body));
  if (size !== entry.size) {
    throw new FileError("corrupt");
  }
  return blob;
}

/** Saves `blob` as a download named `name`; returns the object URL (revoke it when done). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  anchor.rel = "noopener";
  anchor.hidden = true;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  return url;
}

/** Whether the sealed sizes the claim announced match the manifest (a server cannot swap files). */
export function sizesMatch(entries, sealedSizes) {
  return Array.isArray(sealedSizes) && sealedSizes.length === entries.length
    && entries.every((entry, i) => sealedSizes[i] === sealedSize(entry.size));
}

/**
 * Seals and uploads each chosen File under a fresh file key, calling `onFile(index)` before
 * each; returns the key, the manifest entries and the upload ids, in order. The key is wiped
 * when an upload fails (and by the caller once the note's plaintext holds it).
 */
export async function sealAndUploadFiles(chosen, onFile) {
  const key = newFileKey();
  const ids = [];
  try {
    for (let index = 0; index < chosen.length; index++) {
      onFile(index);
      ids.push(await uploadFile(key, index, chosen[index]));
    }
  } catch (err) {
    key.fill(0);
    throw err;
  }
  return { key, entries: chosen.map(fileEntry), ids };
}

/** A note's plaintext: the message alone, or the bundle of the message and the uploaded files. */
export function notePlaintext(text, files) {
  const message = new TextEncoder().encode(text);
  if (!files) {
    return message;
  }
  try {
    return bundleToBytes({ message, key: files.key, files: files.entries });
  } finally {
    message.fill(0);
  }
}

/**
 * Lists the files of an opened bundle in `view.list` with a download button each, shows
 * `view.part`, and reports in `view.error`. `id` is the claimed note's id (path-encoded),
 * `claimedFiles` the claim's `files` member. The file key and the download token stay in this
 * closure until every file is saved, then are wiped; files whose sealed sizes disagree with the
 * manifest are not offered at all.
 */
export function offerDownloads(view, id, bundle, claimedFiles) {
  const entries = bundle.files;
  if (entries.length === 0) {
    bundle.key.fill(0);
    return;
  }
  const token = claimedFiles && typeof claimedFiles.token === "string" ? claimedFiles.token : "";
  const usable = token.length > 0 && sizesMatch(entries, claimedFiles.sealed_sizes);
  let left = entries.length;
  const saved = new Map();
  const done = function () {
    left--;
    if (left === 0) {
      bundle.key.fill(0);
    }
  };
  listFiles(view.list, entries, function (entry, index) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "download";
    button.textContent = "Download";
    button.setAttribute("aria-label", "Download " + entry.name);
    button.disabled = !usable;
    button.addEventListener("click", async function () {
      if (saved.has(index)) {
        saveBlob(saved.get(index), entry.name);
        return;
      }
      button.disabled = true;
      button.textContent = "Downloading…";
      view.error.hidden = true;
      try {
        const blob = await downloadFile(id, index, token, bundle.key, entry);
        saved.set(index, blob);
        saveBlob(blob, entry.name);
        button.textContent = "Save again";
        done();
      } catch (err) {
        const name = "\u201c" + entry.name + "\u201d";
        view.error.textContent = err instanceof TransferError && err.status === 404
          ? name + " is gone from the server: downloaded already, or an hour has passed "
            + "since the note was read."
          : err instanceof TransferError
            ? name + " could not be downloaded: " + err.message + "."
            : err instanceof TypeError
              ? name + " could not be downloaded: the connection failed, and the server has "
                + "deleted the file."
              : name + " does not open: it was damaged or altered on the way, and the server "
                + "has deleted it. Nothing of it was saved.";
        view.error.hidden = false;
        button.textContent = "Not saved";
        done();
        return;
      }
      button.disabled = false;
    });
    return button;
  });
  if (!usable) {
    view.error.textContent = "The server did not hand over these files as the note "
      + "describes them: they cannot be downloaded.";
    view.error.hidden = false;
    bundle.key.fill(0);
  }
  view.part.hidden = false;
}
