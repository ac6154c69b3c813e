// paravoid reveal page. Opening the link never reads the note: nothing is claimed until the reader
// presses "Reveal note", so link-preview bots and chat unfurlers that fetch the page cannot burn
// it. The link says which kind of note it is, never the server: an end-to-end link (fragment
// `#e2e.<keys>`) is opened in this browser; the server gets two claim tokens derived from the
// keys (and from the passphrase), hands back the sealed note and deletes it, and never sees the
// keys, the passphrase or the message, whatever it answers. A bare `#<keys>` link was made with
// the published API: the server seals and opens those notes, and the page says so before Reveal.
// The fragment leaves the address bar as soon as the page loads and lives in this closure only;
// keys, derived secrets and the passphrase field are wiped after use or refusal. The message is
// shown through `value` only, never parsed as HTML. A note with files lists their names, types
// and sizes (as text) and offers one download each: fetched once with the claim's download
// token, decrypted here and saved under the manifest's name, never shown. Loaded as a module.
import {
  argon2idFromJson, claimTokens, derivePassphrase, keysFromCompact, noteFromJson,
  openNoteWithDerived, parseFragment, sameParams, toBase64url,
} from "./note.js";
import { bundleFromBytes, isBundle } from "./files.js";
import { offerDownloads } from "./attach.js";

(function () {
  const GONE = "This note does not exist, has expired, or has already been read.";

  const intro = document.getElementById("intro");
  const modeE2e = document.getElementById("mode-e2e");
  const modeServer = document.getElementById("mode-server");
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
  const filesPart = document.getElementById("files-part");
  const fileList = document.getElementById("file-list");
  const filesError = document.getElementById("files-error");

  // The path is /s/<id>; the id goes back to the API percent-encoded.
  const pathParts = window.location.pathname.split("/");
  const id = pathParts.length === 3 && pathParts[1] === "s" ? pathParts[2] : "";
  const encodedId = encodeURIComponent(decodeId(id));
  const e2ePath = "/api/e2e/notes/" + encodedId;
  const apiPath = "/api/secrets/" + encodedId;
  // What the link says, read once; then the fragment leaves the address bar (and the history
  // entry) and the keys live in this closure only.
  const link = parseFragment(window.location.hash);
  let compact = link.compact;
  if (window.location.hash.length > 0) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  let keys = null;
  // "e2e" (sealed in a browser, opened here), "server" (sealed by the published API), or
  // "unknown" (a bare link whose peek did not answer: only the end-to-end claim is tried).
  // An end-to-end link is "e2e" for good: no answer of the server changes it.
  let mode = link.mode === "e2e" ? "e2e" : "unknown";
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
      keys.classical.fill(0);
      keys.dk.fill(0);
      keys = null;
    }
    passphrase.value = "";
    if (window.location.hash.length > 0) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function showMode() {
    modeE2e.hidden = mode === "server";
    modeServer.hidden = mode !== "server";
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

  // Same origin only, no cookies, no cache, and no redirects followed: a redirect is an error.
  function request(path, init) {
    return fetch(path, Object.assign({
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json" },
    }, init));
  }

  // The JSON object of an answer, or null for anything else.
  async function jsonObject(response) {
    try {
      const body = await response.json();
      return body && typeof body === "object" && !Array.isArray(body) ? body : null;
    } catch (_) {
      return null;
    }
  }

  // Shows what an end-to-end peek answered: the passphrase field, the public Argon2id
  // parameters (refused out of bounds) and the expiry. Returns false when it refused them.
  function usePeek(info) {
    try {
      argon2id = argon2idFromJson(info.argon2id);
    } catch (_) {
      argon2id = null;
      forgetFragment();
      showError("The server sent passphrase settings this page refuses to use. "
        + "Nothing was revealed; ask the sender to create a new note.");
      return false;
    }
    passphraseField.hidden = !(info.passphrase_required === true || argon2id);
    showExpiry(info.expires_at);
    return true;
  }

  function showExpiry(at) {
    if (typeof at === "number" && Number.isFinite(at) && Math.abs(at) < 1e11) {
      expires.textContent = new Date(at * 1000).toLocaleString();
      expires.dateTime = new Date(at * 1000).toISOString();
      expiry.hidden = false;
    }
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
      forgetFragment();
      revealStatus.textContent = "";
      showError("This link is incomplete: the keys after the # are missing or damaged. "
        + "Ask the sender for the whole link.");
      return;
    }
    showMode();
    try {
      const response = await request(e2ePath, { method: "GET" });
      if (response.ok) {
        const info = await jsonObject(response);
        if (info) {
          mode = "e2e";
          if (!usePeek(info)) {
            revealStatus.textContent = "";
            return;
          }
        }
      } else if (response.status === 404 && mode === "e2e") {
        showGone(GONE);
        return;
      } else if (response.status === 404) {
        // A bare link and no end-to-end note: a note of the published API, which the server
        // opens itself. Said on the page before the reader decides.
        const published = await request(apiPath, { method: "GET" });
        if (published.status === 404) {
          showGone(GONE);
          return;
        }
        const info = published.ok ? await jsonObject(published) : null;
        if (info) {
          mode = "server";
          passphraseField.hidden = info.passphrase_required !== true;
          showExpiry(info.expires_at);
        }
      }
      // Any other answer: let the reader try anyway; the claim reports what went wrong.
    } catch (_) {
      // Offline or the like: the claim reports it.
    }
    showMode();
    revealStatus.textContent = "";
    revealButton.disabled = false;
  }

  // Claims an end-to-end note with tokens derived from the keys (and the passphrase), then
  // opens the sealed note here. Returns the message, or a Response for the error paths.
  async function claimAndOpen(passphraseText) {
    let pw = null;
    let tokens = null;
    try {
      if (passphraseText !== null && !argon2id) {
        // The peek did not get through: ask again for the public salt and costs.
        const info = await request(e2ePath, { method: "GET" });
        const body = info.ok ? await jsonObject(info) : null;
        argon2id = body ? argon2idFromJson(body.argon2id) : null;
      }
      if (passphraseText !== null && argon2id) {
        revealStatus.textContent = "Deriving the key from the passphrase…";
        pw = await derivePassphrase(passphraseText, argon2id);
      }
      tokens = claimTokens(keys.raw, pw);
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
      try {
        const claimed = await jsonObject(response);
        const sealed = noteFromJson(claimed && claimed.note);
        if (sealed.passphrase && !sameParams(sealed.passphrase, argon2id)) {
          if (pw) {
            pw.fill(0);
          }
          pw = await derivePassphrase(passphraseText ?? "", sealed.passphrase);
        }
        const plaintext = await openNoteWithDerived(sealed, keys, pw);
        try {
          const bundle = isBundle(plaintext) ? bundleFromBytes(plaintext) : null;
          const text = new TextDecoder("utf-8", { fatal: true })
            .decode(bundle ? bundle.message : plaintext);
          if (bundle) {
            bundle.message.fill(0);
          }
          return { message: text, bundle, files: claimed.files };
        } finally {
          plaintext.fill(0);
        }
      } catch (_) {
        return { broken: true };
      }
    } finally {
      if (pw) {
        pw.fill(0);
      }
      if (tokens) {
        tokens.claim.fill(0);
        if (tokens.passphrase) {
          tokens.passphrase.fill(0);
        }
      }
    }
  }

  // Reveals a note of the published API: the server opens it with the keys sent here. Only for
  // a bare link whose server said it holds such a note, after the page said so.
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
    const revealed = await jsonObject(response);
    return { message: revealed && typeof revealed.message === "string" ? revealed.message : "" };
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
      const outcome = mode === "server" && link.mode !== "e2e"
        ? await revealOnServer(passphraseText) : await claimAndOpen(passphraseText);
      if (outcome.broken) {
        showGone("The note was fetched, and deleted from the server, but it does not open: "
          + "it was damaged or altered on the way.", "Ask the sender to create a new note, "
          + "and to tell you if they suspect the server.");
        return;
      }
      if (typeof outcome.message === "string") {
        forgetFragment();
        message.value = outcome.message;
        if (outcome.bundle) {
          showFiles(outcome.bundle, outcome.files);
        }
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
          + (Number.isInteger(left) && left > 0 && left < 100
            ? left + (left === 1 ? " try" : " tries") : "a few tries")
          + " left before it is destroyed.");
        passphrase.value = "";
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

  // Lists the files of an opened bundle with a download button each (attach.js).
  function showFiles(bundle, claimedFiles) {
    offerDownloads({ part: filesPart, list: fileList, error: filesError }, encodedId, bundle,
      claimedFiles);
  }

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
