// The round-trip table: unpack the rows, filter, sort, page, show a row's fills.
// Text from files is only ever written with textContent: nothing in the data can run.
"use strict";
(function () {
  const COLS = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14];
  const NUMERIC = new Set([6, 8, 9, 10, 11, 12, 13]);
  const NAMED = new Set([3, 4]);
  const PAGE = 200;
  const table = document.getElementById("trip-table");
  const body = table.tBodies[0];
  const input = document.getElementById("filter");
  const shownText = document.getElementById("shown");
  const more = document.getElementById("more");
  let names = [], rows = [], view = [], limit = PAGE, sortCol = null, sortDir = 1;

  // Times come as wall-clock seconds in the page's zone: shown as UTC, they read exactly.
  function clock(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  }
  function cell(row, col) {
    const value = row[col];
    if (value === null || value === undefined) return "";
    if (col === 1) return clock(value);
    if (col === 2) return clock(row[1] + value);
    return NAMED.has(col) ? names[value] : String(value);
  }
  function td(text, numeric) {
    const el = document.createElement("td");
    el.textContent = text;
    if (numeric) el.className = "num";
    return el;
  }
  function searchText(row) {
    return [0, 3, 4, 5, 14].map((c) => cell(row, c)).join(" ").toLowerCase() +
      (row[2] === null ? " open" : " closed");
  }
  function fillsRow(row) {
    const tr = document.createElement("tr");
    tr.className = "fills";
    const el = document.createElement("td");
    el.colSpan = COLS.length;
    const lines = row[15].map((f) =>
      [f[0] === null ? "(fill no longer stored)" : clock(row[1] + f[0]), f[1] === null ? "" : names[f[1]], f[2],
       f[3] === null ? "" : "@ " + f[3], f[4] === null ? "" : names[f[4]]].join("  "));
    el.textContent = "";
    lines.forEach((line, i) => {
      if (i) el.appendChild(document.createElement("br"));
      el.appendChild(document.createTextNode(line));
    });
    tr.appendChild(el);
    return tr;
  }
  function draw() {
    body.textContent = "";
    const frag = document.createDocumentFragment();
    view.slice(0, limit).forEach((row) => {
      const tr = document.createElement("tr");
      tr.className = "trip";
      COLS.forEach((c) => tr.appendChild(td(c === 6 && row[7] ? row[6] + " (" + row[7] + " open)" : cell(row, c), NUMERIC.has(c))));
      tr.addEventListener("click", () => {
        const next = tr.nextSibling;
        if (next && next.className === "fills") next.remove();
        else tr.after(fillsRow(row));
      });
      frag.appendChild(tr);
    });
    body.appendChild(frag);
    shownText.textContent = Math.min(limit, view.length) + " of " + view.length + " shown" +
      (view.length < rows.length ? " (" + rows.length + " in all)" : "");
    more.hidden = view.length <= limit;
  }
  function apply() {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    view = rows.filter((r) => words.every((w) => r.search.includes(w)));
    if (sortCol !== null) {
      const c = sortCol;
      const key = NUMERIC.has(c) ? (r) => (r[c] === null ? -Infinity : Number(r[c])) : (r) => cell(r, c);
      view.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * sortDir; });
    }
    limit = PAGE;
    draw();
    try { sessionStorage.setItem("journal-filter", input.value); } catch (e) { /* storage off */ }
  }
  table.tHead.addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (!th) return;
    const col = Number(th.dataset.col);
    sortDir = sortCol === col ? -sortDir : 1;
    sortCol = col;
    table.tHead.querySelectorAll("th").forEach((h) => h.classList.remove("asc", "desc"));
    th.classList.add(sortDir > 0 ? "asc" : "desc");
    apply();
  });
  input.addEventListener("input", apply);
  more.addEventListener("click", () => { limit += 5 * PAGE; draw(); });

  async function load() {
    const text = document.getElementById("trip-data").textContent.trim();
    const bytes = Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const data = JSON.parse(await new Response(stream).text());
    names = data.names;
    rows = data.rows;
    rows.forEach((r) => { r.search = searchText(r); });
    try { input.value = sessionStorage.getItem("journal-filter") || ""; } catch (e) { /* storage off */ }
    apply();
    document.body.dataset.tableReady = "1";
  }
  load().catch((err) => { shownText.textContent = "The table could not be read: " + err; });
})();
