// Names and roles that the widgets Panel draws leave out, for screen readers (the
// served app runs this when the document is ready; axe-core checks the result in
// tests/test_a11y.py).  Panel's parts are drawn in shadow roots and redrawn as the
// user picks, so the marks are put on again every 1.5 s on what is new (each element
// is marked once: a data attribute says so).
//  - the slider's handle (role="slider") gets its widget's title as aria-label;
//  - a number input's up and down buttons (Bokeh's spinner) are named "Increase" and "Decrease";
//  - a Tabulator table (role="grid") may only own rows and row groups: its scrolling
//    body becomes the row group (the list of rows inside it none), its footer (the page buttons) a row with one cell;
//  - the template's sidebar list (<ul> holding widgets, not <li>) is presentational.
(function () {
  if (window.__a11yRoles) return;
  window.__a11yRoles = true;
  function roots(root, out) {
    out.push(root);
    root.querySelectorAll("*").forEach(function (e) { if (e.shadowRoot) roots(e.shadowRoot, out); });
    return out;
  }
  function hostOf(node) {
    var r = node.getRootNode();
    return r && r.host ? r.host : null;
  }
  function titleFor(handle) {
    // the slider's title (e.g. "Packages on the heatmap (top N by specs): 30") is drawn
    // in the same shadow root as the handle
    var root = handle.getRootNode();
    var t = root.querySelector ? root.querySelector(".bk-slider-title") : null;
    var text = t ? t.textContent.replace(/:\s*[^:]*$/, "").trim() : "";
    return text || "Slider";
  }
  function mark() {
    document.querySelectorAll("ul").forEach(function (ul) {
      if (!ul.hasAttribute("role") && Array.prototype.some.call(ul.children, function (c) { return c.tagName !== "LI"; })) ul.setAttribute("role", "presentation");
    });
    roots(document, []).forEach(function (root) {
      root.querySelectorAll(".noUi-handle[role='slider']:not([aria-label])").forEach(function (h) { h.setAttribute("aria-label", titleFor(h)); });
      root.querySelectorAll(".bk-spin-btn-up:not([aria-label])").forEach(function (b) { b.setAttribute("aria-label", "Increase"); });
      root.querySelectorAll(".bk-spin-btn-down:not([aria-label])").forEach(function (b) { b.setAttribute("aria-label", "Decrease"); });
      root.querySelectorAll(".tabulator[role='grid']").forEach(function (grid) {
        var body = grid.querySelector(":scope > .tabulator-tableholder");
        if (body) {
          body.setAttribute("role", "rowgroup");  // focusable (the arrow keys scroll it): a row group, not a bare div
          var rows = body.querySelector(":scope > .tabulator-table[role='rowgroup']");
          if (rows) rows.setAttribute("role", "presentation");  // one row group, not two nested
        }
        var foot = grid.querySelector(":scope > .tabulator-footer");
        if (foot && !foot.hasAttribute("role")) {
          foot.setAttribute("role", "row");
          var inner = foot.querySelector(":scope > .tabulator-footer-contents") || foot.firstElementChild;
          if (inner) inner.setAttribute("role", "gridcell");
        }
      });
    });
  }
  mark();
  setInterval(mark, 1500);
})();
