// The labeling page's keyboard: a key presses the button that shows it (data-key), so every key has a
// visible button and the page works the same with the mouse or without JavaScript (plain form posts).
// A label shows as saved only when the server's answer (the next card) says so; a failed request keeps
// the sample on screen and offers a retry of exactly the same submission.
(function () {
  "use strict";

  const labeler = () => document.getElementById("labeler");
  let pending = null; // the control whose request is in flight
  let lastControl = null; // the control of the last request, for a retry
  let refused = 0; // presses refused while a save was in flight, told after the next card arrives

  function status(html) {
    const box = document.getElementById("label-status");
    if (box) box.innerHTML = html;
    return box;
  }

  function describe(control) {
    if (!control) return "this request";
    const copy = control.cloneNode(true);
    copy.querySelectorAll("kbd, .muted").forEach((el) => el.remove());
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function toggleHelp(force) {
    const help = document.getElementById("key-help");
    if (!help) return;
    help.open = force === undefined ? !help.open : force;
  }

  // Esc in the reason or comment field gives the keys back to the page.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !event.target.closest("#labeler [data-focus-key]")) return;
    const card = document.getElementById("label-card");
    event.target.blur();
    if (card) card.focus({ preventScroll: true });
  });

  document.addEventListener("keydown", (event) => {
    const root = labeler();
    if (!root || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (event.key === "Escape") {
      toggleHelp(false);
      return;
    }
    // Keys that move into a text field (skip reason, comment) rather than press a button.
    const field = root.querySelector(`[data-focus-key="${CSS.escape(event.key)}"]`);
    if (field) {
      event.preventDefault();
      field.focus();
      return;
    }
    const control = root.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (!control) return;
    event.preventDefault();
    control.click();
  });

  // While a label is being saved, the card on screen is about to be replaced: a second press would be
  // meant for a sample not shown yet, so it is refused, visibly.
  document.addEventListener("click", (event) => {
    // Buttons without a key too (skip with a reason, add comment): Enter in their field clicks them.
    const control = event.target.closest('#labeler [data-key], #labeler button[type="submit"]');
    if (!control) return;
    if (pending) {
      event.preventDefault();
      event.stopImmediatePropagation();
      refused += 1;
      status(`<p class="muted">Still saving ${escapeHtml(describe(pending))}… the next sample comes when the server has confirmed it.</p>`);
      return;
    }
    lastControl = control;
  }, true);

  document.addEventListener("htmx:beforeRequest", (event) => {
    if (!event.target.closest("#labeler")) return;
    pending = lastControl;
    const name = lastControl && lastControl.name;
    if (name === "label" || name === "skip" || name === "undo") {
      status(`<p class="muted">Saving ${escapeHtml(describe(lastControl))}…</p>`);
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    if (!event.target.closest("#labeler")) return;
    pending = null;
  });

  // A refused label comes back as a card saying why: 422 (e.g. a class that no longer exists) or 409 (the
  // label changed since this card was shown, in another tab; the card offers to replace it): show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const code = event.detail.xhr.status;
    if ((code === 422 || code === 409) && event.target.closest("#labeler")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function failed(event, why) {
    if (!event.target.closest("#labeler")) return;
    event.stopPropagation(); // shown here, with a retry, instead of the page-wide notice
    pending = null;
    const control = lastControl;
    const box = status(
      `<p class="error" role="alert">Not saved: ${escapeHtml(why)}. ` +
        `<button type="button" class="retry">Retry ${escapeHtml(describe(control))}</button></p>`
    );
    const retry = box && box.querySelector("button.retry");
    if (retry) {
      retry.addEventListener("click", () => {
        if (control && control.isConnected) control.click();
      });
      retry.focus();
    }
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    failed(event, `the server answered ${xhr.status} ${xhr.statusText || ""}`.trim());
  }, true);
  document.addEventListener("htmx:sendError", (event) => failed(event, "Chorus could not be reached"), true);

  // Keep the keyboard's place: the focused button went away with the old card, so focus the new card.
  document.addEventListener("htmx:afterSettle", () => {
    if (refused) {
      // The new card replaced the "still saving" notice: say what happened to those presses, once.
      const box = document.getElementById("label-status");
      if (box) {
        const note = document.createElement("p");
        note.className = "muted refused-presses";
        note.textContent =
          `${refused} key press${refused === 1 ? " was" : "es were"} not used while the last label was saving: ` +
          "each label needs its sample on screen. Label this one now.";
        box.appendChild(note);
      }
      refused = 0;
    }
    const card = document.getElementById("label-card");
    const active = document.activeElement;
    const lost = !active || active === document.body || !active.isConnected;
    // A conflict's "replace it with mine" takes the focus (from the card htmx gave it back to), so Enter
    // answers it as well as its key.
    const preferred = card && card.querySelector("[data-focus-after-swap]");
    if (preferred && (lost || active === card)) {
      preferred.focus({ preventScroll: true });
    } else if (card && lost) {
      card.focus({ preventScroll: true });
    }
  });

  // The keys are live from here (a key pressed while the page was still loading did nothing): browser tests
  // wait for this before their first key.
  document.documentElement.dataset.labelKeys = "ready";
})();
