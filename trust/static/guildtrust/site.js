// Small progressive enhancements; every page works without them.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API refused (plain http or no permission): select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  const status = document.getElementById(button.dataset.copyStatus || "");
  if (status) status.textContent = "Copied to the clipboard.";
});

// Mark the current page in the role navigation for sighted and screen-reader users alike.
document.addEventListener("DOMContentLoaded", () => {
  let best = null;
  for (const link of document.querySelectorAll(".role-nav a")) {
    const path = new URL(link.href).pathname;
    if (location.pathname.startsWith(path) && (!best || path.length > new URL(best.href).pathname.length)) best = link;
  }
  if (best) best.setAttribute("aria-current", "page");
});
