// Narrow screens (a phone, 390 px): each table row is shown as a card of "label: value"
// lines (style.css); every cell gets its column's header as data-label for that.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".table-wrap table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (heads[i]) td.setAttribute("data-label", heads[i]);
      });
    });
  });
});
// A table wider than its place scrolls inside its box; that box can then be reached
// with the keyboard (tabindex) and scrolled with the arrow keys.
function markScrollable() {
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) wrap.setAttribute("tabindex", "0");
    else wrap.removeAttribute("tabindex");
  });
}
window.addEventListener("load", markScrollable);
window.addEventListener("resize", markScrollable);
