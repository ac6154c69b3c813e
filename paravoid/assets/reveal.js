// paravoid reveal page. Opening the link never reads the note: the keys in the URL fragment are
// sent to the server only when the reader presses "Reveal note", so link-preview bots and chat
// unfurlers that fetch the page cannot burn it. Afterwards the fragment is removed from the
// address bar. The message is shown through `value` only, never parsed as HTML.
"use strict";

(function () {
  const GONE = "This note does not exist, has expired, or has already been read.";

  const intro = document.getElementById("intro");
  const form = document.getElementById("reveal-form");
  const passphraseField = document.getElementById("passphrase-field");
  const passphrase = document.getElementById("passphrase");
  const revealButton = document.getElementById("reveal");
  const revealStatus = document.getElementById("reveal-status");
  const revealError = document.getElementById("reveal-error");
  const expiry = document.getElementById("expiry");
  const expires = document.getElementById("expires");
  const note = document.getElementById("note");
  const noteTitle = document.getElementById("note-title");
  const message = document.getElementById("message");
  const copyMessage = document.getElementById("copy-message");
  const copyStatus = document.getElementById("copy-status");
  const gone = document.getElementById("gone");
  const goneTitle = document.getElementById("gone-title");
  const goneText = document.getElementById("gone-text");

  // The path is /s/<id>; the id goes back to the API percent-encoded.
  const pathParts = window.location.pathname.split("/");
  const id = pathParts.length === 3 && pathParts[1] === "s" ? pathParts[2] : "";
  const apiPath = "/api/secrets/" + encodeURIComponent(decodeId(id));
  // The keys: base64url, kept in this closure only.
  let compact = window.location.hash.replace(/^#/, "");
  let revealing = false;

  function decodeId(raw) {
    try {
      return decodeURIComponent(raw);
    } catch (_) {
      return raw;
    }
  }

  function forgetFragment() {
    compact = "";
    if (window.location.hash.length > 0) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function showError(text) {
    revealError.textContent = text;
    revealError.hidden = false;
  }

  function showGone(text) {
    forgetFragment();
    intro.hidden = true;
    note.hidden = true;
    goneText.textContent = text;
    gone.hidden = false;
    goneTitle.focus();
  }

  // The API's error body `{"error": "...", "attempts_left": n}`, or a stand-in.
  async function errorBody(response) {
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") {
        return body;
      }
    } catch (_) {
      // Not JSON: fall through.
    }
    return { error: "the server answered " + response.status };
  }

  function request(path, init) {
    return fetch(path, Object.assign({
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json" },
    }, init));
  }

  // Looks the note up without reading it: tells whether it exists and needs a passphrase.
  async function peek() {
    if (id.length === 0) {
      showGone(GONE);
      return;
    }
    if (!/^[A-Za-z0-9_-]+$/.test(compact)) {
      revealStatus.textContent = "";
      showError("This link is incomplete: the keys after the # are missing or damaged. "
        + "Ask the sender for the whole link.");
      return;
    }
    try {
      const response = await request(apiPath, { method: "GET" });
      if (response.status === 404) {
        showGone(GONE);
        return;
      }
      if (response.ok) {
        const info = await response.json();
        passphraseField.hidden = !info.passphrase_required;
        if (typeof info.expires_at === "number") {
          expires.textContent = new Date(info.expires_at * 1000).toLocaleString();
          expires.dateTime = new Date(info.expires_at * 1000).toISOString();
          expiry.hidden = false;
        }
      }
      // Any other answer: let the reader try anyway; the reveal call reports what went wrong.
    } catch (_) {
      // Offline or the like: the reveal call reports it.
    }
    revealStatus.textContent = "";
    revealButton.disabled = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (revealing || compact.length === 0) {
      return;
    }
    revealing = true;
    revealButton.disabled = true;
    revealError.hidden = true;
    revealStatus.textContent = "Decrypting…";
    const body = { compact: compact };
    if (!passphraseField.hidden) {
      if (passphrase.value.length === 0) {
        showError("Enter the passphrase first.");
        passphrase.focus();
        revealing = false;
        revealButton.disabled = false;
        revealStatus.textContent = "";
        return;
      }
      body.passphrase = passphrase.value;
    }
    try {
      const response = await request(apiPath + "/reveal", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (response.ok) {
        const revealed = await response.json();
        forgetFragment();
        passphrase.value = "";
        message.value = typeof revealed.message === "string" ? revealed.message : "";
        intro.hidden = true;
        note.hidden = false;
        noteTitle.focus();
        return;
      }
      if (response.status === 404 || response.status === 410) {
        showGone(GONE);
        return;
      }
      const failure = await errorBody(response);
      if (failure.error === "wrong passphrase") {
        const left = failure.attempts_left;
        if (left === 0) {
          showGone("Wrong passphrase. That was the last try: the note has been destroyed.");
          return;
        }
        showError("Wrong passphrase. The note is still there; "
          + (typeof left === "number" ? left + (left === 1 ? " try" : " tries") : "a few tries")
          + " left before it is destroyed.");
        passphrase.select();
        passphrase.focus();
      } else if (failure.error === "this note needs a passphrase") {
        passphraseField.hidden = false;
        showError("This note needs a passphrase.");
        passphrase.focus();
      } else if (failure.error === "wrong link keys" || response.status === 422) {
        showError("The keys in this link do not open the note. Ask the sender for the whole "
          + "link, copied exactly.");
      } else {
        showError("The note could not be opened: " + failure.error);
      }
      revealButton.disabled = false;
    } catch (_) {
      showError("Could not reach the server. Check your connection and try again.");
      revealButton.disabled = false;
    } finally {
      revealing = false;
      revealStatus.textContent = "";
    }
  });

  copyMessage.addEventListener("click", async function () {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(message.value);
        copied = true;
      }
    } catch (_) {
      copied = false;
    }
    if (!copied) {
      message.focus();
      message.select();
      try {
        copied = document.execCommand("copy");
      } catch (_) {
        copied = false;
      }
    }
    copyStatus.textContent = copied ? "Copied." : "Select the text and copy it.";
  });

  peek();
})();
