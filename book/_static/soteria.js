// soteria-eval book: a table wider than its column scrolls inside its output; make that
// scroll region reachable from the keyboard and named for screen readers.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.cell_output, div.output").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1 && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", "Table (scrolls sideways)");
    }
  });
});
