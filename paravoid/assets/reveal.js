// paravoid reveal page. Opening the link never reads the note: nothing is claimed until the reader
// presses "Reveal note", so link-preview bots and chat unfurlers that fetch the page cannot burn
// it. End-to-end notes (the default) are opened in this browser: the server gets two claim
// tokens derived from the keys in the URL fragment (and from the passphrase), hands back the
// sealed note and deletes it; it never sees the keys, the passphrase or the message. Notes made
// with the published API (the server sealed them) are revealed by the server as before.
// Afterwards the fragment is removed from the address bar. The message is shown through `value`
// only, never parsed as HTML. Loaded as a module.
import {
  claimTokens, derivePassphrase, fromBase64url, keysFromCompact, noteFromJson,
  openNoteWithDerived, sameParams, toBase64url,
} from "./note.js";

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
  const goneHelp = document.getElementById("gone-help");

  // The path is /s/<id>; the id goes back to the API percent-encoded.
  const pathParts = window.location.pathname.split("/");
  const id = pathParts.length === 3 && pathParts[1] === "s" ? pathParts[2] : "";
  const encodedId = encodeURIComponent(decodeId(id));
  const e2ePath = "/api/e2e/notes/" + encodedId;
  const apiPath = "/api/secrets/" + encodedId;
  // The keys: base64url, kept in this closure only.
  let compact = window.location.hash.replace(/^#/, "");
  let keys = null;
  // "e2e" (sealed in a browser, opened here) or "server" (sealed by the published API).
  let mode = "e2e";
  // The public Argon2id salt and costs of an end-to-end passphrase note, from the peek.
  let argon2id = null;
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
    if (keys) {
      keys.raw.fill(0);
      keys = null;
    }
    if (window.location.hash.length > 0) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function showError(text) {
    revealError.textContent = text;
    revealError.hidden = false;
  }

  function showGone(text, help) {
    forgetFragment();
    intro.hidden = true;
    note.hidden = true;
    goneText.textContent = text;
    if (help) {
      goneHelp.textContent = help;
    }
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
    try {
      keys = keysFromCompact(compact);
    } catch (_) {
      revealStatus.textContent = "";
      showError("This link is incomplete: the keys after the # are missing or damaged. "
        + "Ask the sender for the whole link.");
      return;
    }
    try {
      let response = await request(e2ePath, { method: "GET" });
      if (response.status === 404) {
        // Perhaps a note made with the published API, which the server opens itself.
        response = await request(apiPath, { method: "GET" });
        mode = "server";
      }
      if (response.status === 404) {
        showGone(GONE);
        return;
      }
      if (response.ok) {
        const info = await response.json();
        passphraseField.hidden = !info.passphrase_required;
        if (info.argon2id) {
          argon2id = {
            salt: fromBase64url(info.argon2id.salt),
            m_cost_kib: info.argon2id.m_cost_kib,
            t_cost: info.argon2id.t_cost,
            p_cost: info.argon2id.p_cost,
          };
        }
        if (typeof info.expires_at === "number") {
          expires.textContent = new Date(info.expires_at * 1000).toLocaleString();
          expires.dateTime = new Date(info.expires_at * 1000).toISOString();
          expiry.hidden = false;
        }
      } else {
        mode = "e2e";
      }
      // Any other answer: let the reader try anyway; the claim reports what went wrong.
    } catch (_) {
      // Offline or the like: the claim reports it.
    }
    revealStatus.textContent = "";
    revealButton.disabled = false;
  }

  // Claims an end-to-end note with tokens derived from the keys (and the passphrase), then
  // opens the sealed note here. Returns the message, or a Response for the error paths.
  async function claimAndOpen(passphraseText) {
    let pw = null;
    if (passphraseText !== null && !argon2id) {
      // The peek did not get through: ask again for the public salt and costs.
      const info = await request(e2ePath, { method: "GET" });
      const params = info.ok ? (await info.json()).argon2id : null;
      if (params) {
        argon2id = { ...params, salt: fromBase64url(params.salt) };
      }
    }
    if (passphraseText !== null && argon2id) {
      revealStatus.textContent = "Deriving the key from the passphrase…";
      pw = await derivePassphrase(passphraseText, argon2id);
    }
    const tokens = claimTokens(keys.raw, pw);
    const body = { claim_token: toBase64url(tokens.claim) };
    if (tokens.passphrase) {
      body.passphrase_token = toBase64url(tokens.passphrase);
    }
    revealStatus.textContent = "Fetching the sealed note…";
    const response = await request(e2ePath + "/claim", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      return { response };
    }
    revealStatus.textContent = "Decrypting…";
    const claimed = await response.json();
    try {
      const sealed = noteFromJson(claimed.note);
      if (sealed.passphrase && !sameParams(sealed.passphrase, argon2id)) {
        pw = await derivePassphrase(passphraseText ?? "", sealed.passphrase);
      }
      const plaintext = await openNoteWithDerived(sealed, keys, pw);
      return { message: new TextDecoder("utf-8", { fatal: true }).decode(plaintext) };
    } catch (_) {
      return { broken: true };
    } finally {
      if (pw) {
        pw.fill(0);
      }
    }
  }

  // Reveals a note of the published API: the server opens it with the keys sent here.
  async function revealOnServer(passphraseText) {
    const body = { compact: compact };
    if (passphraseText !== null) {
      body.passphrase = passphraseText;
    }
    const response = await request(apiPath + "/reveal", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      return { response };
    }
    const revealed = await response.json();
    return { message: typeof revealed.message === "string" ? revealed.message : "" };
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
    let passphraseText = null;
    if (!passphraseField.hidden) {
      if (passphrase.value.length === 0) {
        showError("Enter the passphrase first.");
        passphrase.focus();
        revealing = false;
        revealButton.disabled = false;
        revealStatus.textContent = "";
        return;
      }
      passphraseText = passphrase.value;
    }
    try {
      const outcome = mode === "e2e"
        ? await claimAndOpen(passphraseText) : await revealOnServer(passphraseText);
      if (outcome.broken) {
        showGone("The note was fetched, and deleted from the server, but it does not open: "
          + "it was damaged or altered on the way.", "Ask the sender to create a new note, "
          + "and to tell you if they suspect the server.");
        return;
      }
      if (typeof outcome.message === "string") {
        forgetFragment();
        passphrase.value = "";
        message.value = outcome.message;
        intro.hidden = true;
        note.hidden = false;
        noteTitle.focus();
        return;
      }
      const response = outcome.response;
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
