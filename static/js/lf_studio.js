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
