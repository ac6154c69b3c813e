// paravoid create page: seals the note in this browser (end to end) and shows the one-time link.
// The server receives only the sealed note and the hashes of two claim tokens: never the message,
// the link keys or the passphrase. Loaded as a module (the Content-Security-Policy allows no
// inline script); DOM text is set through `value` and `textContent` only.
import { e2eFragment, noteToJson, sealNote, toBase64url, tokenHash } from "./note.js";

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
    if (message.value.length === 0) {
      showError("Write the note first.");
      message.focus();
      return;
    }
    createButton.disabled = true;
    createStatus.textContent = passphrase.value.length > 0
      ? "Deriving a key from the passphrase…" : "Encrypting…";
    try {
      const sealed = await sealNote(message.value, {
        passphrase: passphrase.value.length > 0 ? passphrase.value : undefined,
      });
      createStatus.textContent = "Storing the sealed note…";
      const request = {
        note: noteToJson(sealed.note),
        ttl_secs: Number(ttl.value),
        claim_hash: toBase64url(tokenHash(sealed.tokens.claim)),
      };
      if (sealed.tokens.passphrase) {
        request.passphrase_hash = toBase64url(tokenHash(sealed.tokens.passphrase));
      }
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
      // The keys go in the fragment, which browsers never send to a server; its prefix tells
      // the reveal page that this note is opened in the browser, whatever the server says.
      link.value = window.location.origin + created.share_path + "#" + fragment;
      expires.textContent = new Date(created.expires_at * 1000).toLocaleString();
      expires.dateTime = new Date(created.expires_at * 1000).toISOString();
      reminder.hidden = !created.passphrase_required;
      // The note has left this page: clear the inputs so it does not linger on screen.
      message.value = "";
      passphrase.value = "";
      copyStatus.textContent = "";
      form.hidden = true;
      result.hidden = false;
      resultTitle.focus();
    } catch (err) {
      showError(err instanceof TypeError
        ? "Could not reach the server. Check your connection and try again."
        : "This browser could not encrypt the note: " + err.message);
    } finally {
      createButton.disabled = false;
      createStatus.textContent = "";
    }
  });

  copyLink.addEventListener("click", async function () {
    copyStatus.textContent = (await copyText(link)) ? "Copied." : "Select the link and copy it.";
  });

  newNote.addEventListener("click", function () {
    link.value = "";
    result.hidden = true;
    form.hidden = false;
    message.focus();
  });

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
