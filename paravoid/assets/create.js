// paravoid create page: seals the note in this browser (end to end) and shows the one-time link.
// The server receives only the sealed note, the sealed files and the hashes of two claim tokens:
// never the message, the files' names or bytes, the link keys or the passphrase. With files, the
// note's plaintext is a bundle (files.js) holding the message, the files' key and their names,
// types and sizes; each file is sealed and uploaded first, then the note names the uploads. Loaded as a module (the Content-Security-Policy allows no
// inline script); DOM text is set through `value` and `textContent` only.
import { e2eFragment, noteToJson, sealNote, toBase64url, tokenHash } from "./note.js";
import {
  TransferError, fetchLimits, fileEntry, formatSize, listFiles, notePlaintext, refuseFiles,
  sealAndUploadFiles as uploadFiles,
} from "./attach.js";

// A status token: 32 bytes, unpadded base64url.
const RECEIPT_TOKEN = /^[A-Za-z0-9_-]{43}$/;

(function () {
  const form = document.getElementById("create-form");
  const message = document.getElementById("message");
  const ttl = document.getElementById("ttl");
  const passphrase = document.getElementById("passphrase");
  const createButton = document.getElementById("create");
  const createStatus = document.getElementById("create-status");
  const createError = document.getElementById("create-error");
  const result = document.getElementById("result");
  const resultTitle = document.getElementById("result-title");
  const link = document.getElementById("link");
  const copyLink = document.getElementById("copy-link");
  const copyStatus = document.getElementById("copy-status");
  const expires = document.getElementById("expires");
  const reminder = document.getElementById("passphrase-reminder");
  const newNote = document.getElementById("new-note");
  const filesField = document.getElementById("files-field");
  const filesInput = document.getElementById("files");
  const filesHelp = document.getElementById("files-help");
  const fileList = document.getElementById("file-list");
  const filesSent = document.getElementById("files-sent");
  const receipt = document.getElementById("receipt");
  const receiptResult = document.getElementById("receipt-result");
  const receiptLink = document.getElementById("receipt-link");
  const copyReceipt = document.getElementById("copy-receipt");
  const copyReceiptStatus = document.getElementById("copy-receipt-status");
  const receiptMissing = document.getElementById("receipt-missing");
  // What the server accepts (null until it said, or if it did not).
  let limits = null;

  // Says what the server takes; hides the file field on a server that keeps no files.
  async function showLimits() {
    limits = await fetchLimits();
    if (limits && !limits.files) {
      filesInput.value = "";
      filesField.hidden = true;
    } else if (limits) {
      filesHelp.textContent = "Up to " + limits.maxFiles + " files of at most "
        + formatSize(limits.maxFileBytes) + " each, encrypted in this browser like the note; "
        + "the reader downloads each file once.";
    }
  }

  // The chosen files, listed by name and size; an error when they cannot be sent.
  function showChosenFiles() {
    const chosen = Array.from(filesInput.files || []);
    listFiles(fileList, chosen.map(fileEntry));
    const refusal = refuseFiles(chosen, limits);
    createError.hidden = refusal === null;
    createError.textContent = refusal ?? "";
    return refusal;
  }

  // Seals and uploads each file under a fresh file key (attach.js), saying which is under way.
  function sealAndUploadFiles(chosen) {
    return uploadFiles(chosen, function (index) {
      createStatus.textContent = "Encrypting and sending file " + (index + 1) + " of "
        + chosen.length + "…";
    });
  }

  // The body of `POST /api/e2e/notes`.
  function createRequest(sealed, files) {
    const request = {
      note: noteToJson(sealed.note),
      ttl_secs: Number(ttl.value),
      claim_hash: toBase64url(tokenHash(sealed.tokens.claim)),
    };
    if (sealed.tokens.passphrase) {
      request.passphrase_hash = toBase64url(tokenHash(sealed.tokens.passphrase));
    }
    if (files) {
      request.files = files.ids;
    }
    if (receipt.checked) {
      request.receipt = true;
    }
    return request;
  }

  filesInput.addEventListener("change", showChosenFiles);

  function showError(text) {
    createError.textContent = text;
    createError.hidden = false;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && typeof body.error === "string" && body.error.length > 0) {
        return body.error;
      }
    } catch (_) {
      // Not JSON: fall through to the status line.
    }
    return "The server answered " + response.status + ". Please try again.";
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    createError.hidden = true;
    const chosen = filesField.hidden ? [] : Array.from(filesInput.files || []);
    if (message.value.length === 0 && chosen.length === 0) {
      showError("Write the note or choose a file first.");
      message.focus();
      return;
    }
    if (showChosenFiles() !== null) {
      filesInput.focus();
      return;
    }
    createButton.disabled = true;
    let files = null;
    let plaintext = null;
    try {
      if (chosen.length > 0) {
        files = await sealAndUploadFiles(chosen);
      }
      createStatus.textContent = passphrase.value.length > 0
        ? "Deriving a key from the passphrase…" : "Encrypting…";
      plaintext = notePlaintext(message.value, files);
      if (files) {
        files.key.fill(0);
      }
      const sealed = await sealNote(plaintext, {
        passphrase: passphrase.value.length > 0 ? passphrase.value : undefined,
      });
      createStatus.textContent = "Storing the sealed note…";
      const request = createRequest(sealed, files);
      const fragment = e2eFragment(sealed.keys);
      sealed.keys.raw.fill(0);
      const response = await fetch("/api/e2e/notes", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(request),
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
      });
      if (!response.ok) {
        showError(await errorText(response));
        return;
      }
      const created = await response.json();
      if (typeof created.share_path !== "string" || !/^\/s\/[0-9a-f-]{36}$/.test(created.share_path)) {
        showError("The server sent an unexpected answer.");
        return;
      }
      // The status token rides in the fragment of the status link, so that opening the link
      // sends it only in the status request's body, never in a URL a log keeps.
      const token = receipt.checked && RECEIPT_TOKEN.test(created.receipt_token ?? "")
        ? created.receipt_token : null;
      receiptLink.value = token ? window.location.origin + "/receipt#" + token : "";
      receiptResult.hidden = token === null;
      receiptMissing.hidden = !receipt.checked || token !== null;
      copyReceiptStatus.textContent = "";
      // The keys go in the fragment, which browsers never send to a server; its prefix tells
      // the reveal page that this note is opened in the browser, whatever the server says.
      link.value = window.location.origin + created.share_path + "#" + fragment;
      expires.textContent = new Date(created.expires_at * 1000).toLocaleString();
      expires.dateTime = new Date(created.expires_at * 1000).toISOString();
      reminder.hidden = !created.passphrase_required;
      filesSent.hidden = !files;
      filesSent.textContent = files ? "With " + files.ids.length
        + (files.ids.length === 1 ? " file." : " files.") : "";
      // The note has left this page: clear the inputs so it does not linger on screen.
      message.value = "";
      passphrase.value = "";
      receipt.checked = false;
      filesInput.value = "";
      listFiles(fileList, []);
      copyStatus.textContent = "";
      form.hidden = true;
      result.hidden = false;
      resultTitle.focus();
    } catch (err) {
      if (err instanceof TransferError) {
        showError(err.status === 413 ? "A file is too large for this server: " + err.message
          + "." : "The server refused a file: " + err.message + ".");
        return;
      }
      showError(err instanceof TypeError
        ? "Could not reach the server. Check your connection and try again."
        : "This browser could not encrypt the note: " + err.message);
    } finally {
      if (plaintext) {
        plaintext.fill(0);
      }
      createButton.disabled = false;
      createStatus.textContent = "";
    }
  });

  copyLink.addEventListener("click", async function () {
    copyStatus.textContent = (await copyText(link)) ? "Copied." : "Select the link and copy it.";
  });

  copyReceipt.addEventListener("click", async function () {
    copyReceiptStatus.textContent = (await copyText(receiptLink))
      ? "Copied." : "Select the link and copy it.";
  });

  newNote.addEventListener("click", function () {
    link.value = "";
    receiptLink.value = "";
    result.hidden = true;
    form.hidden = false;
    message.focus();
  });

  showLimits();

  // Copies the value of a text field; falls back to selecting it where the Clipboard API is
  // missing or refused.
  async function copyText(field) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(field.value);
        return true;
      }
    } catch (_) {
      // Fall back below.
    }
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (_) {
      return false;
    }
  }
})();
