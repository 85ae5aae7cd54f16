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

  // Comment drafts. An unsent comment stays with its sample (in this tab's sessionStorage) until the server
  // has it: labeling, skipping or leaving the sample, or reloading the page, never drops what was typed; the
  // next card says where it went, and the field has it again when the sample comes back.
  let leftDraft = null; // the sample whose unsent comment the last request left behind

  const commentForm = () => document.querySelector("#labeler form.comment-form");
  const draftKey = (form) => `chorus:comment:${form.action}:${form.elements.sample.value}`;

  function storeDraft(form) {
    const text = form.elements.text.value;
    try {
      if (text.trim()) sessionStorage.setItem(draftKey(form), text);
      else sessionStorage.removeItem(draftKey(form));
    } catch (err) {
      // Storage refused (private mode, full): the field still has the text while the card is shown.
    }
  }

  function storedDraft(form) {
    try {
      return sessionStorage.getItem(draftKey(form));
    } catch (err) {
      return null;
    }
  }

  function restoreDraft() {
    const form = commentForm();
    if (!form) return;
    const area = form.elements.text;
    const stored = storedDraft(form);
    if (area.value) {
      storeDraft(form); // sent back by the server (refused): kept until it is sent
    } else if (stored) {
      area.value = stored;
      const note = document.createElement("p");
      note.className = "small muted draft-note";
      note.textContent = "Your unsent comment on this sample is back in the field: send it with Ctrl+Enter.";
      area.after(note);
    }
  }

  document.addEventListener("input", (event) => {
    const form = event.target.closest("#labeler form.comment-form");
    if (form && event.target.name === "text") storeDraft(form);
  });

  // Ctrl+Enter (Cmd+Enter) sends the comment, as it saves a labeling function in the LF studio. It clicks
  // the button, so a press while a label is saving is refused like any other.
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.key !== "Enter") return;
    const form = event.target.closest("#labeler form.comment-form");
    if (!form) return;
    event.preventDefault();
    const send = form.querySelector('button[type="submit"]');
    if (send) send.click();
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = commentForm();
    const sender = event.detail.elt;
    if (!form || !event.target.closest("#labeler") || (sender && form.contains(sender))) return;
    // Anything but sending the comment may bring another sample: note the draft it leaves behind.
    leftDraft = form.elements.text.value.trim() ? { name: form.dataset.sampleName, key: draftKey(form) } : null;
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const sender = event.detail.requestConfig && event.detail.requestConfig.elt;
    const form = sender && sender.closest && sender.closest("form.comment-form");
    if (form && event.detail.xhr.status < 300) {
      try {
        sessionStorage.removeItem(draftKey(form)); // the server has it now
      } catch (err) {
        // nothing stored
      }
    }
  });

  document.addEventListener("htmx:afterSettle", (event) => {
    // htmx puts the focus back on a field with the same id: after a skip with a reason that was the next
    // card's reason field, where the next label key would have been typed. A new card takes the keys.
    const swapped = event.detail && event.detail.target;
    const active = document.activeElement;
    const card = document.getElementById("label-card");
    if (card && swapped && swapped.id === "label-card" && active && active.matches("#label-card [data-focus-key]")) {
      card.focus({ preventScroll: true });
    }
    restoreDraft();
    const form = commentForm();
    if (leftDraft && !(form && draftKey(form) === leftDraft.key)) {
      const box = document.getElementById("label-status");
      if (box) {
        const note = document.createElement("p");
        note.className = "muted draft-left";
        note.textContent =
          `Your comment on sample ${leftDraft.name} was not sent: it is kept with that sample; ` +
          "open it again (← Back) to send it.";
        box.appendChild(note);
      }
    }
    leftDraft = null;
  });

  restoreDraft();

  // The keys are live from here (a key pressed while the page was still loading did nothing): browser tests
  // wait for this before their first key.
  document.documentElement.dataset.labelKeys = "ready";
})();
