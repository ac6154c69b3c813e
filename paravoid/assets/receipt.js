// paravoid read-receipt page (`/receipt#<status token>`): asks `POST /api/e2e/receipts/status`
// whether the note the token belongs to was revealed, expired or destroyed, and shows the answer.
// The token comes from the fragment, which browsers never send to a server, and leaves this page
// only in the request's body. Loaded as a module (the Content-Security-Policy allows no inline
// script); DOM text is set through `textContent` only.

// A status token: 32 bytes, unpadded base64url.
const RECEIPT_TOKEN = /^[A-Za-z0-9_-]{43}$/;

// What each status the server may answer means to the note's creator.
const STATES = {
  pending: "Not read yet: the link still opens the note.",
  revealed: "Read: the note was opened and is gone.",
  expired: "Expired unread: nobody opened the note in time, and it is gone.",
  destroyed: "Destroyed: too many wrong passphrases were tried, and the note is gone.",
};

(function () {
  const state = document.getElementById("receipt-state");
  const when = document.getElementById("receipt-when");
  const at = document.getElementById("receipt-at");
  const error = document.getElementById("receipt-error");
  const again = document.getElementById("check-again");
  // The token of the link now shown (a new fragment, pasted or followed, replaces it).
  let token = "";

  function fail(text) {
    state.textContent = "Unknown.";
    when.hidden = true;
    error.textContent = text;
    error.hidden = false;
  }

  async function check() {
    again.disabled = true;
    error.hidden = true;
    state.textContent = "Asking the server…";
    try {
      const response = await fetch("/api/e2e/receipts/status", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ token }),
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
      });
      if (response.status === 404) {
        fail("This server knows no such receipt: the link is wrong, or the receipt's time is "
          + "over (a week after the note expired).");
        return;
      }
      if (response.status === 429) {
        fail("Too many requests from here. Wait a minute and check again.");
        return;
      }
      if (!response.ok) {
        fail("The server answered " + response.status + ". Please try again.");
        return;
      }
      const answer = await response.json();
      const text = STATES[answer.status];
      if (typeof text !== "string" || !Number.isSafeInteger(answer.at) || answer.at < 0) {
        fail("The server sent an unexpected answer.");
        return;
      }
      state.textContent = text;
      const date = new Date(answer.at * 1000);
      at.textContent = date.toLocaleString();
      at.dateTime = date.toISOString();
      when.hidden = false;
    } catch (_) {
      fail("Could not reach the server. Check your connection and try again.");
    } finally {
      again.disabled = !RECEIPT_TOKEN.test(token);
    }
  }

  // Reads the token from the fragment and asks for its status.
  function start() {
    token = window.location.hash.slice(1);
    if (!RECEIPT_TOKEN.test(token)) {
      again.disabled = true;
      fail("This status link is incomplete: copy the whole link, including the part after #.");
      return;
    }
    check();
  }

  again.addEventListener("click", check);
  window.addEventListener("hashchange", start);
  start();
})();
