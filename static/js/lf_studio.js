// LF studio keys: Ctrl/Cmd+Enter saves the editor, "n" opens a new labeling function (when not typing).
document.addEventListener("keydown", (event) => {
  const form = document.getElementById("lf-form");
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && form && form.contains(event.target)) {
    event.preventDefault();
    form.requestSubmit();
    return;
  }
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "n") {
    const link = document.getElementById("new-lf");
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  }
});
// In the code editor Tab indents (four spaces); Escape first, then Tab, leaves it.
document.addEventListener("keydown", (event) => {
  const area = event.target;
  if (!(area instanceof HTMLTextAreaElement) || !area.classList.contains("code-editor")) return;
  if (event.key === "Escape") {
    area.dataset.leaving = "1";
    return;
  }
  if (event.key !== "Tab" || event.shiftKey || area.dataset.leaving) {
    delete area.dataset.leaving;
    return;
  }
  event.preventDefault();
  area.setRangeText("    ", area.selectionStart, area.selectionEnd, "end");
  area.dispatchEvent(new Event("input", { bubbles: true }));
});
