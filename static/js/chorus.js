// Small behaviours shared by every page. Page-specific keyboard handling lives beside its page's template.
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
