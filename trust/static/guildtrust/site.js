// Small progressive enhancements; every page works without them.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const text = source.textContent.trim();
  let said = "Copied to the clipboard.";
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    said = "Selected: press Ctrl+C (or ⌘C) to copy.";
    // Clipboard API refused (plain http or no permission): select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  const status = document.getElementById(button.dataset.copyStatus || "");
  if (status) status.textContent = said;
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

// A box with data-poll-ms follows a background job (a period closing): its contents are
// refetched in place, so the page never reloads under the reader; when the box is gone from
// the fresh page (the job finished), the page loads once to show the result.
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-poll-ms]")) {
    const every = Number(box.dataset.pollMs);
    const poll = async () => {
      try {
        const response = await fetch(location.href, { headers: { "X-Requested-With": "fetch" } });
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        const next = fresh.getElementById(box.id);
        if (!next) { location.reload(); return; }
        box.innerHTML = next.innerHTML;
      } catch { /* a dropped request: try again next time */ }
      setTimeout(poll, every);
    };
    setTimeout(poll, every);
  }
});
