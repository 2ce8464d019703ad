// @ts-check
/**
 * Page-wide behaviour the pages need not know about: the skip link, and the column headings that let
 * every table fold into one card per row on a phone (style.css shows `data-label` before each cell).
 */

/**
 * Give each data cell its column's heading, unless it has one.
 * @param {ParentNode} root
 */
export function labelCells(root) {
  for (const table of root.querySelectorAll("table")) {
    const rows = [.../** @type {HTMLTableElement} */ (table).rows];
    const head = rows.find((row) => row.querySelector("th"));
    if (!head) continue;
    const titles = [...head.cells].map((cell) => cell.textContent?.trim() ?? "");
    for (const row of rows) {
      if (row === head) continue;
      [...row.cells].forEach((cell, i) => {
        if (titles[i] && cell.tagName === "TD" && !cell.dataset.label) cell.dataset.label = titles[i];
      });
    }
  }
}

/**
 * Keep `root`'s tables labelled as pages draw and redraw them, and make the skip link move the focus
 * into the page: the app routes on the URL's hash, so a plain `href="#app"` would be read as a route.
 * @param {HTMLElement} root  the page's <main>, focusable (tabindex="-1")
 */
export function startLayout(root) {
  new MutationObserver(() => labelCells(root)).observe(root, { childList: true, subtree: true });
  document.getElementById("skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    root.focus();
  });
}
