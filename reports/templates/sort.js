// Sortable tables: click a header with data-sort to order the first <tbody> by that column.
// data-sort="higher": best (largest) first on the first click; "lower": smallest first; "text": A-Z.
// A second click reverses. Cells sort by their data-value; an empty value (not measured) always sorts last.
(function () {
  "use strict";
  function sortTable(table, th) {
    var column = th.cellIndex;
    var kind = th.getAttribute("data-sort");
    var current = th.getAttribute("aria-sort");
    var direction;
    if (current) {
      direction = current === "descending" ? "ascending" : "descending";
    } else {
      direction = kind === "higher" ? "descending" : "ascending";
    }
    var headers = table.tHead.rows[0].cells;
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = direction === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var va = a.cells[column].getAttribute("data-value");
      var vb = b.cells[column].getAttribute("data-value");
      if (va === null) { va = a.cells[column].textContent.trim(); }
      if (vb === null) { vb = b.cells[column].textContent.trim(); }
      if (va === "" && vb === "") { return 0; }
      if (va === "") { return 1; }
      if (vb === "") { return -1; }
      if (kind === "text") { return sign * va.localeCompare(vb); }
      return sign * (parseFloat(va) - parseFloat(vb));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (!th.hasAttribute("data-sort")) { return; }
      th.setAttribute("tabindex", "0");
      th.title = (th.title ? th.title + " - " : "") + "click to sort (best first), click again to reverse";
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, th); }
      });
    });
  });
})();
