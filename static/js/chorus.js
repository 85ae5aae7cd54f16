// Small behaviours shared by every page. Page-specific keyboard handling lives beside its page's template.
// A form marked data-swap-invalid gets its refusal (422) back as a fragment saying why: show it in place.
document.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.requestConfig && event.detail.requestConfig.elt; // what sent it (elt is the target)
  if (event.detail.xhr.status === 422 && form && form.closest("[data-swap-invalid]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (!target) return;
  const note = document.createElement("p");
  note.className = "error";
  note.setAttribute("role", "alert");
  note.textContent = `The server answered ${event.detail.xhr.status}: ${event.detail.xhr.statusText || "error"}. Try again.`;
  target.prepend(note);
});
document.addEventListener("htmx:sendError", (event) => {
  const target = event.detail.target;
  if (!target) return;
  const note = document.createElement("p");
  note.className = "error";
  note.setAttribute("role", "alert");
  note.textContent = "Could not reach Chorus. Check the connection and try again.";
  target.prepend(note);
});
