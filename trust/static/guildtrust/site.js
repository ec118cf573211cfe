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

// On a narrow screen the header's links fold behind a Menu button. Without this script the
// button stays hidden and the links show as they are.
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.querySelector(".menu-toggle");
  const menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (!menu) return;
  const setOpen = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    menu.classList.toggle("open", open);
  };
  toggle.hidden = false;
  document.documentElement.classList.add("has-menu");
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      toggle.focus();
    }
  });
});

// Data tables become one card per row on a phone (site.css, .stack): each cell is labelled
// with its column's heading, and the table keeps its roles for screen readers, which lose
// them once CSS stops displaying the elements as a table.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.data:not(.matrix):not([data-keep-table])")) {
    const headings = [];
    for (const th of table.querySelectorAll("thead tr:last-child > th")) {
      // The heading's words only: a sortable header's arrow is hidden from reading, so here too.
      const words = th.cloneNode(true);
      for (const hidden of words.querySelectorAll("[aria-hidden=true]")) hidden.remove();
      for (let span = 0; span < (th.colSpan || 1); span += 1) headings.push(words.textContent.trim());
    }
    if (!headings.length) continue;
    table.setAttribute("role", "table");
    for (const group of table.querySelectorAll(":scope > thead, :scope > tbody, :scope > tfoot")) group.setAttribute("role", "rowgroup");
    for (const row of table.querySelectorAll(":scope > * > tr")) {
      row.setAttribute("role", "row");
      let column = 0;
      for (const cell of row.children) {
        const scope = cell.getAttribute("scope");
        cell.setAttribute("role", scope === "col" ? "columnheader" : scope === "row" ? "rowheader" : "cell");
        if (cell.tagName === "TD" && cell.colSpan === 1 && headings[column]) cell.dataset.label = headings[column];
        column += cell.colSpan || 1;
      }
    }
    table.classList.add("stack");
  }
});
