// Files of an end-to-end note in the browser: the same bytes as `qsmm_shield::attachment` (Rust).
//
// A note with files carries a bundle as its plaintext (integers little-endian):
//   bundle = "\0QSF" ‖ 0x01 ‖ file key (32) ‖ u32 message_len ‖ message ‖ u8 count ‖ file*
//   file   = u8 name_len ‖ name (UTF-8) ‖ u8 type_len ‖ type (ASCII) ‖ u64 size
// Each file's bytes travel beside the note, sealed in 64 KiB chunks (the STREAM construction):
//   key_i   = HKDF-SHA256(ikm = file key, info = "qsmm/v1/shield/note/file" ‖ u32le(i))
//   chunk n = AES-256-GCM(key_i, nonce = u88be(n) ‖ last, AAD = ∅)   (last = 1 on the final chunk)
// A file of `size` bytes has max(1, ⌈size / 65536⌉) chunks; only one chunk is ever in memory.
import { hkdf, sha256 } from "./noble.js";
import { randomBytes } from "./note.js";

export const CHUNK_LEN = 65536;
export const TAG_LEN = 16;
export const SEALED_CHUNK_LEN = CHUNK_LEN + TAG_LEN;
export const FILE_KEY_LEN = 32;
export const MAX_FILES = 32;
/** 2^48 − 1, as the Rust side (well inside JavaScript's exact integers). */
export const MAX_FILE_SIZE = 2 ** 48 - 1;
export const MAGIC = Object.freeze([0x00, 0x51, 0x53, 0x46]); // "\0QSF"

const VERSION = 1;
const encoder = new TextEncoder();
const INFO_FILE = encoder.encode("qsmm/v1/shield/note/file");

/** A sealed file or bundle that does not open or decode; `kind` is "corrupt" or "encoding". */
export class FileError extends Error {
  constructor(kind, message) {
    super(message ?? (kind === "encoding" ? "invalid file manifest" : "decryption failed"));
    this.name = "FileError";
    this.kind = kind;
  }
}

/** Chunks of a file of `size` bytes. */
export function chunkCount(size) {
  checkSize(size);
  return Math.max(1, Math.ceil(size / CHUNK_LEN));
}

/** Length of the sealed stream of a file of `size` bytes. */
export function sealedSize(size) {
  return size + TAG_LEN * chunkCount(size);
}

/** Whether a note plaintext is a bundle (starts with the magic). */
export function isBundle(plaintext) {
  return plaintext.length >= 4 && MAGIC.every((b, i) => plaintext[i] === b);
}

/**
 * Checks a manifest entry as `FileEntry::new`: a name of 1 to 255 UTF-8 bytes without control
 * characters, "/" or "\", not "." or ".."; a type of at most 127 printable ASCII characters.
 * Throws FileError("encoding", why) otherwise.
 */
export function checkEntry({ name, type, size }) {
  const nameBytes = encoder.encode(name);
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f-\u009f/\\]/u;
  if (typeof name !== "string" || nameBytes.length < 1 || nameBytes.length > 255 || name === "."
    || name === ".." || control.test(name)) {
    throw new FileError("encoding", "a file name must be 1 to 255 bytes, without control characters, / or \\, and not . or ..");
  }
  if (typeof type !== "string" || type.length > 127 || !/^[\x20-\x7e]*$/.test(type)) {
    throw new FileError("encoding", "a media type must be at most 127 printable ASCII characters");
  }
  checkSize(size);
}

/**
 * The note plaintext of a bundle: `message` (bytes), `key` (32 bytes, fresh: see newFileKey) and
 * `files` ([{ name, type, size }]).
 */
export function bundleToBytes({ message, key, files }) {
  if (key.length !== FILE_KEY_LEN || files.length > MAX_FILES) {
    throw new FileError("encoding", "too many files in one note");
  }
  const parts = [Uint8Array.from(MAGIC), Uint8Array.of(VERSION), key, u32le(message.length), message,
    Uint8Array.of(files.length)];
  for (const file of files) {
    checkEntry(file);
    const name = encoder.encode(file.name);
    parts.push(Uint8Array.of(name.length), name, Uint8Array.of(file.type.length),
      encoder.encode(file.type), u64le(file.size));
  }
  return concat(parts);
}

/** A fresh file key. */
export function newFileKey() {
  return randomBytes(FILE_KEY_LEN);
}

/**
 * Reads a note plaintext: null for a bare message, else { message, key, files } (strict, as
 * `Bundle::from_plaintext`; throws FileError("encoding") on anything malformed).
 */
export function bundleFromBytes(bytes) {
  if (!isBundle(bytes)) {
    return null;
  }
  let at = 4;
  const take = (n) => {
    if (at + n > bytes.length) {
      throw new FileError("encoding");
    }
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const view = (n) => new DataView(bytes.buffer, bytes.byteOffset + at - n, n);
  if (take(1)[0] !== VERSION) {
    throw new FileError("encoding");
  }
  const key = take(FILE_KEY_LEN).slice();
  take(4);
  const message = take(view(4).getUint32(0, true)).slice();
  const count = take(1)[0];
  if (count > MAX_FILES) {
    throw new FileError("encoding");
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const files = [];
  for (let i = 0; i < count; i++) {
    let name;
    let type;
    try {
      name = decoder.decode(take(take(1)[0]));
      type = decoder.decode(take(take(1)[0]));
    } catch (err) {
      throw err instanceof FileError ? err : new FileError("encoding");
    }
    take(8);
    const size = Number(view(8).getBigUint64(0, true));
    try {
      checkEntry({ name, type, size });
    } catch {
      throw new FileError("encoding");
    }
    files.push({ name, type, size });
  }
  if (at !== bytes.length) {
    throw new FileError("encoding");
  }
  return { message, key, files };
}

/** The WebCrypto AES-GCM key of file `index` under the bundle's file key. */
export async function fileCryptoKey(fileKey, index) {
  const raw = hkdf(sha256, fileKey, undefined, concat([INFO_FILE, u32le(index)]), 32);
  try {
    return await globalThis.crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  } finally {
    raw.fill(0);
  }
}

/**
 * The sealed stream of `blob` (a Blob or File), file `index` of a bundle under `fileKey`, as a
 * ReadableStream of Uint8Array chunks. Reads the blob one 64 KiB slice at a time, on demand.
 */
export function sealFileStream(fileKey, index, blob) {
  const size = blob.size;
  checkSize(size);
  const total = chunkCount(size);
  let counter = 0;
  let cryptoKey;
  return new ReadableStream({
    async start() {
      cryptoKey = await fileCryptoKey(fileKey, index);
    },
    async pull(controller) {
      const start = counter * CHUNK_LEN;
      const plain = new Uint8Array(await blob.slice(start, Math.min(size, start + CHUNK_LEN)).arrayBuffer());
      const last = counter === total - 1;
      const sealed = await globalThis.crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce(counter, last), tagLength: 128 }, cryptoKey, plain);
      plain.fill(0);
      controller.enqueue(new Uint8Array(sealed));
      counter++;
      if (last) {
        controller.close();
      }
    },
  }, { highWaterMark: 1 });
}

/**
 * Opens the sealed stream `sealed` (a ReadableStream of bytes, cut anywhere) of file `index`
 * whose manifest says `size` bytes, as a ReadableStream of plaintext chunks. The output stream
 * errors with FileError("corrupt") on a chunk that fails its tag, a truncated stream, or bytes
 * after the last chunk: only a stream that closes without error is the whole file.
 */
export function openFileStream(fileKey, index, size, sealed) {
  const total = chunkCount(size);
  const reader = sealed.getReader();
  let counter = 0;
  let cryptoKey;
  let pending = new Uint8Array(0);
  const expected = (n) => Math.min(CHUNK_LEN, size - n * CHUNK_LEN) + TAG_LEN;
  return new ReadableStream({
    async start() {
      cryptoKey = await fileCryptoKey(fileKey, index);
    },
    async pull(controller) {
      if (counter === total) {
        // Everything the manifest announces is open: the source must end here.
        if (pending.length) {
          throw new FileError("corrupt");
        }
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            break;
          }
          if (value.length) {
            throw new FileError("corrupt");
          }
        }
        controller.close();
        return;
      }
      const want = expected(counter);
      while (pending.length < want) {
        const { value, done } = await reader.read();
        if (done) {
          throw new FileError("corrupt");
        }
        pending = pending.length ? concat([pending, value]) : value;
      }
      const chunk = pending.subarray(0, want);
      pending = pending.subarray(want);
      let plain;
      try {
        plain = await globalThis.crypto.subtle.decrypt(
          { name: "AES-GCM", iv: nonce(counter, counter === total - 1), tagLength: 128 },
          cryptoKey, chunk);
      } catch {
        throw new FileError("corrupt");
      }
      counter++;
      controller.enqueue(new Uint8Array(plain));
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 1 });
}

function checkSize(size) {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_SIZE) {
    throw new FileError("encoding", "a file is too large");
  }
}

/** u88be(counter) ‖ last. */
function nonce(counter, last) {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setBigUint64(3, BigInt(counter), false);
  out[11] = last ? 1 : 0;
  return out;
}

function u32le(value) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

function u64le(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
