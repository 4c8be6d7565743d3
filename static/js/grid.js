// SynsetLab thumbnail grid: arrow keys or h/j/k/l move between tiles, Enter opens one.
(function () {
  "use strict";
  var grid = document.querySelector("[data-grid]");
  if (!grid) return;
  var tiles = Array.prototype.slice.call(grid.querySelectorAll("li > a"));
  if (!tiles.length) return;
  var at = -1;
  tiles.forEach(function (t, i) { t.addEventListener("focus", function () { at = i; }); });
  function columns() {
    var top = tiles[0].getBoundingClientRect().top, n = 0;
    for (var i = 0; i < tiles.length && tiles[i].getBoundingClientRect().top === top; i++) n++;
    return Math.max(1, n);
  }
  function typing(t) { return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)); }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var cols = columns(), next;
    switch (ev.key) {
      case "ArrowRight": case "l": next = at + 1; break;
      case "ArrowLeft": case "h": next = at - 1; break;
      case "ArrowDown": case "j": next = at < 0 ? 0 : at + cols; break;
      case "ArrowUp": case "k": next = at - cols; break;
      case "Home": next = 0; break;
      case "End": next = tiles.length - 1; break;
      default: return;
    }
    ev.preventDefault();
    if (at < 0) next = 0;
    next = Math.max(0, Math.min(tiles.length - 1, next));
    tiles[next].focus();
    tiles[next].scrollIntoView({ block: "nearest" });
  });
})();
