// paravoid request-a-secret page, one page for the three steps (see request.js for the format):
//
//   /r              makes a request: draws the requester's keys here, registers the SHA-256 of
//                   the claim token, and shows the request link (#req.<ek ‖ classical>, to send)
//                   and the requester's own link (#own.<seed ‖ classical>, to keep);
//   /r/<id>#req.…   the responder's form: seals the typed secret to the key in the link (bound
//                   to this request) and posts only the sealed note; files chosen are sealed and
//                   uploaded first as the create page's are (attach.js), and the answer, then
//                   the bundle of the message and their manifest (files.js), names the uploads;
//   /r/<id>#own.…   the requester's view: once answered, claims the answer with the claim token
//                   and opens it here, once; its files are listed by name and size and offered
//                   for download as on the reveal page, never shown.
//
// The server gets the claim hash, the sealed answer and the claim token: never a key, the
// classical secret, the seed or the message. The fragment leaves the address bar as soon as the
// page loads and lives in this closure only; keys are wiped after use or refusal. Text is set
// through `value` and `textContent` only. Loaded as a module.
import {
  noteFromJson, noteToJson, openNote, toBase64url, tokenHash,
} from "./note.js";
import { bundleFromBytes, isBundle } from "./files.js";
import {
  TransferError, fetchLimits, fileEntry, formatSize, listFiles, notePlaintext, offerDownloads,
  refuseFiles, sealAndUploadFiles,
} from "./attach.js";
import {
  answerKeys, makeRequestKeys, ownFragment, parseRequestFragment, requestFragment, sealAnswer,
} from "./request.js";

(function () {
  const GONE = "This request does not exist, has expired, or has been answered and read.";
  const $ = (id) => document.getElementById(id);

  // The path is /r or /r/<id>; the fragment says which side of the request this is.
  const pathParts = window.location.pathname.split("/");
  const id = pathParts.length === 3 && pathParts[1] === "r" ? decodeId(pathParts[2]) : "";
  let link;
  try {
    link = parseRequestFragment(window.location.hash);
  } catch (_) {
    link = { kind: "broken" };
  }
  if (window.location.hash.length > 0) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  function decodeId(raw) {
    try {
      return decodeURIComponent(raw);
    } catch (_) {
      return raw;
    }
  }

  // Same origin only, no cookies, no cache, no redirects followed.
  function request(path, init) {
    return fetch(path, Object.assign({
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json" },
    }, init));
  }

  function postJson(path, body) {
    return request(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function errorText(response) {
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

  function showError(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function showGone(text) {
    for (const card of ["make-form", "made", "respond-form", "responded", "open-form"]) {
      $(card).hidden = true;
    }
    $("gone-text").textContent = text;
    $("gone").hidden = false;
    $("gone-title").focus();
  }

  function showTime(element, at) {
    if (typeof at === "number" && Number.isFinite(at) && Math.abs(at) < 1e11) {
      element.textContent = new Date(at * 1000).toLocaleString();
      element.dateTime = new Date(at * 1000).toISOString();
      return true;
    }
    return false;
  }

  // Whether the request `id` is answered: true, false, or null when it is gone (404, 410).
  async function requestStatus() {
    const response = await request("/api/e2e/requests/" + encodeURIComponent(id), { method: "GET" });
    if (response.status === 404 || response.status === 410) {
      return null;
    }
    if (!response.ok) {
      throw new Error(await errorText(response));
    }
    const body = await response.json();
    return { answered: body && body.answered === true, expiresAt: body && body.expires_at };
  }

  // ---- /r: make a request ----

  function makePage() {
    const form = $("make-form");
    form.hidden = false;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      $("make-error").hidden = true;
      $("make").disabled = true;
      $("make-status").textContent = "Making your keys…";
      let keys = null;
      try {
        keys = makeRequestKeys();
        const response = await postJson("/api/e2e/requests", {
          ttl_secs: Number($("request-ttl").value),
          response_ttl_secs: Number($("answer-ttl").value),
          claim_hash: toBase64url(tokenHash(keys.claim)),
        });
        if (!response.ok) {
          showError($("make-error"), "The request was not stored: " + await errorText(response) + ".");
          return;
        }
        const made = await response.json();
        if (!made || typeof made.respond_path !== "string"
          || !/^\/r\/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(made.respond_path)) {
          showError($("make-error"), "The server sent an unexpected answer.");
          return;
        }
        const base = window.location.origin + made.respond_path + "#";
        $("request-link").value = base + requestFragment(keys);
        $("own-link").value = base + ownFragment(keys);
        showTime($("request-expires"), made.expires_at);
        form.hidden = true;
        $("made").hidden = false;
        $("made-title").focus();
      } catch (err) {
        showError($("make-error"), err instanceof TypeError
          ? "Could not reach the server. Check your connection and try again."
          : "This browser could not make the keys: " + err.message);
      } finally {
        if (keys) {
          for (const secret of [keys.raw, keys.classical, keys.claim]) {
            secret.fill(0);
          }
        }
        $("make").disabled = false;
        $("make-status").textContent = "";
      }
    });
    copyButton("copy-request", "request-link", "copy-request-status");
    copyButton("copy-own", "own-link", "copy-own-status");
  }

  // ---- /r/<id>#req.…: answer a request ----

  async function respondPage() {
    const form = $("respond-form");
    const status = $("respond-status");
    form.hidden = false;
    let ek = link.ek;
    let classical = link.classical;
    const forget = function () {
      classical.fill(0);
      ek = null;
    };
    try {
      const state = await requestStatus();
      if (state === null) {
        forget();
        showGone("This request does not exist or has expired.");
        return;
      }
      if (state.answered) {
        forget();
        showGone("This request has been answered already.");
        return;
      }
      $("request-expiry").hidden = !showTime($("respond-expires"), state.expiresAt);
    } catch (_) {
      // Offline or the like: the answer reports it.
    }
    const filesInput = $("files");
    let limits = null;
    // The chosen files, listed by name and size; an error when they cannot be sent.
    const showChosenFiles = function () {
      const chosen = Array.from(filesInput.files || []);
      listFiles($("file-list"), chosen.map(fileEntry));
      const refusal = refuseFiles(chosen, limits);
      $("respond-error").hidden = refusal === null;
      $("respond-error").textContent = refusal ?? "";
      return refusal;
    };
    filesInput.addEventListener("change", showChosenFiles);
    limits = await fetchLimits();
    if (limits && !limits.files) {
      filesInput.value = "";
      $("files-field").hidden = true;
    } else if (limits) {
      $("files-help").textContent = "Up to " + limits.maxFiles + " files of at most "
        + formatSize(limits.maxFileBytes) + " each, encrypted in this browser like the secret; "
        + "the requester downloads each file once.";
    }
    status.textContent = "";
    $("respond").disabled = false;
    let sending = false;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (sending || ek === null) {
        return;
      }
      const answer = $("answer");
      $("respond-error").hidden = true;
      const chosen = $("files-field").hidden ? [] : Array.from(filesInput.files || []);
      if (answer.value.length === 0 && chosen.length === 0) {
        showError($("respond-error"), "Write the secret or choose a file first.");
        answer.focus();
        return;
      }
      if (showChosenFiles() !== null) {
        filesInput.focus();
        return;
      }
      sending = true;
      $("respond").disabled = true;
      let files = null;
      let message = null;
      try {
        if (chosen.length > 0) {
          files = await sealAndUploadFiles(chosen, function (index) {
            status.textContent = "Encrypting and sending file " + (index + 1) + " of "
              + chosen.length + "…";
          });
        }
        status.textContent = "Encrypting…";
        message = notePlaintext(answer.value, files);
        if (files) {
          files.key.fill(0);
        }
        const sealed = await sealAnswer(message, ek, classical, id);
        status.textContent = "Sending the sealed answer…";
        const body = { note: noteToJson(sealed) };
        if (files) {
          body.files = files.ids;
        }
        const response = await postJson("/api/e2e/requests/" + encodeURIComponent(id) + "/response",
          body);
        if (response.status === 409) {
          forget();
          answer.value = "";
          showGone("This request has been answered already; your answer was not stored.");
          return;
        }
        if (response.status === 404 || response.status === 410) {
          forget();
          answer.value = "";
          showGone("This request does not exist or has expired; your answer was not stored.");
          return;
        }
        if (!response.ok) {
          showError($("respond-error"), "The answer was not stored: " + await errorText(response) + ".");
          $("respond").disabled = false;
          return;
        }
        forget();
        answer.value = "";
        filesInput.value = "";
        listFiles($("file-list"), []);
        form.hidden = true;
        $("responded").hidden = false;
        $("responded-title").focus();
      } catch (err) {
        showError($("respond-error"), err instanceof TransferError
          ? "A file was not stored: " + err.message + "."
          : err instanceof TypeError
            ? "Could not reach the server. Check your connection and try again."
            : "This browser could not encrypt the answer: " + err.message);
        $("respond").disabled = false;
      } finally {
        if (files) {
          files.key.fill(0);
        }
        if (message) {
          message.fill(0);
        }
        sending = false;
        status.textContent = "";
      }
    });
  }

  // ---- /r/<id>#own.…: open the answer ----

  async function openPage() {
    const form = $("open-form");
    const state = $("open-state");
    form.hidden = false;
    let opened;
    try {
      opened = answerKeys(link.compact, id);
    } catch (_) {
      showGone("This link is incomplete: the keys after the # are missing or damaged.");
      return;
    }
    const forget = function () {
      opened.claim.fill(0);
      opened.keys.raw.fill(0);
      opened.keys.dk.fill(0);
      opened.keys.classical.fill(0);
      opened = null;
    };
    try {
      const status = await requestStatus();
      if (status === null) {
        forget();
        showGone(GONE);
        return;
      }
      if (!status.answered) {
        forget();
        state.textContent = "Nobody has answered yet. Open your link again later (this page "
          + "has forgotten it).";
        return;
      }
      state.textContent = "Your request has been answered. Opening the answer deletes it from "
        + "the server: have a safe place ready.";
    } catch (_) {
      state.textContent = "Could not ask the server whether your request is answered.";
    }
    $("open").disabled = false;
    let opening = false;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (opening || opened === null) {
        return;
      }
      opening = true;
      $("open").disabled = true;
      $("open-error").hidden = true;
      $("open-status").textContent = "Fetching the sealed answer…";
      try {
        const response = await postJson("/api/e2e/notes/" + encodeURIComponent(id) + "/claim",
          { claim_token: toBase64url(opened.claim) });
        if (response.status === 404 || response.status === 410) {
          forget();
          showGone(GONE);
          return;
        }
        if (!response.ok) {
          showError($("open-error"), "The answer could not be opened: " + await errorText(response) + ".");
          $("open").disabled = false;
          return;
        }
        let text;
        let bundle = null;
        let claimed;
        try {
          claimed = await response.json();
          const plaintext = await openNote(noteFromJson(claimed && claimed.note), opened.keys);
          try {
            bundle = isBundle(plaintext) ? bundleFromBytes(plaintext) : null;
            text = new TextDecoder("utf-8", { fatal: true })
              .decode(bundle ? bundle.message : plaintext);
          } finally {
            plaintext.fill(0);
            if (bundle) {
              bundle.message.fill(0);
            }
          }
        } catch (_) {
          if (bundle) {
            bundle.key.fill(0);
          }
          forget();
          showGone("The answer was fetched, and deleted from the server, but it does not open: "
            + "it was damaged or altered on the way.");
          return;
        }
        forget();
        $("answer-text").value = text;
        if (bundle) {
          offerDownloads({ part: $("files-part"), list: $("answer-files"), error: $("files-error") },
            encodeURIComponent(id), bundle, claimed.files);
        }
        form.hidden = true;
        $("answer-card").hidden = false;
        $("answer-title").focus();
      } catch (_) {
        showError($("open-error"), "Could not reach the server. Check your connection and try again.");
        $("open").disabled = false;
      } finally {
        opening = false;
        $("open-status").textContent = "";
      }
    });
  }

  // Copies a text field; falls back to selecting it where the Clipboard API is missing.
  function copyButton(button, field, status) {
    $(button).addEventListener("click", async function () {
      let copied = false;
      try {
        if (navigator.clipboard && window.isSecureContext) {
          await navigator.clipboard.writeText($(field).value);
          copied = true;
        }
      } catch (_) {
        copied = false;
      }
      if (!copied) {
        $(field).focus();
        $(field).select();
        try {
          copied = document.execCommand("copy");
        } catch (_) {
          copied = false;
        }
      }
      $(status).textContent = copied ? "Copied." : "Select the link and copy it.";
    });
  }

  // A link pasted into this tab on the same path changes only the fragment, which loads
  // nothing: load the page again so it reads the new link.
  window.addEventListener("hashchange", function () {
    window.location.reload();
  });

  if (id.length === 0) {
    makePage();
  } else if (link.kind === "request") {
    respondPage();
  } else if (link.kind === "own") {
    openPage();
  } else {
    showGone("This link is incomplete: the keys after the # are missing or damaged. Ask for "
      + "the whole link.");
  }
})();
