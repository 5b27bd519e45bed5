// Keyboard and screen-reader access to the dashboard's view tabs.  Bokeh draws tab
// headers as plain <div class="bk-tab"> (no role) and puts the header row last in the
// DOM (CSS shows it on top), so Tab reached it only after every view's content, and
// never past a table.  Run once the document is ready, whenever a tab header row is
// redrawn (a MutationObserver: Bokeh redraws it on each change of tab) and on each
// Tab key: the header row moves before the views in the DOM (where it is seen) and
// is marked role="tablist"; each header gets role="tab", aria-selected and tabindex
// (the chosen one 0, the others -1); Enter or Space picks the focused tab, the arrow
// keys, Home and End move between tabs (WAI-ARIA Authoring Practices, "Tabs").
(function () {
  var refocus = false;  // a tab picked from the keyboard: focus it again once Bokeh redraws the row
  function roots(root, out) {
    out.push(root);
    root.querySelectorAll("*").forEach(function (e) { if (e.shadowRoot) roots(e.shadowRoot, out); });
    return out;
  }
  function mark() {
    roots(document, []).forEach(function (root) {
      root.querySelectorAll(".bk-header").forEach(function (header) {
        var tabs = Array.prototype.slice.call(header.querySelectorAll(".bk-tab"));
        if (!tabs.length) return;
        var first = Array.prototype.find.call(header.parentNode.children, function (c) { return c.tagName === "DIV"; });
        if (first && first !== header) header.parentNode.insertBefore(header, first);
        if (!header.dataset.watched) {
          header.dataset.watched = "1";
          new MutationObserver(function () { mark(); }).observe(header, {childList: true, subtree: true, attributeFilter: ["class"]});
        }
        header.setAttribute("role", "tablist");
        tabs.forEach(function (tab, i) {
          var chosen = tab.classList.contains("bk-active");
          tab.setAttribute("role", "tab");
          tab.setAttribute("aria-selected", chosen ? "true" : "false");
          tab.setAttribute("tabindex", chosen ? "0" : "-1");
          if (chosen && refocus && !tab.isSameNode(root.activeElement)) { refocus = false; tab.focus(); }
          if (tab.dataset.keys) return;
          tab.dataset.keys = "1";
          tab.addEventListener("keydown", function (ev) {
            var all = Array.prototype.slice.call(header.querySelectorAll(".bk-tab"));
            var at = all.indexOf(tab), next = null;
            if (ev.key === "Enter" || ev.key === " ") { refocus = true; tab.click(); ev.preventDefault(); setTimeout(mark, 50); return; }
            if (ev.key === "ArrowRight") next = all[(at + 1) % all.length];
            if (ev.key === "ArrowLeft") next = all[(at - 1 + all.length) % all.length];
            if (ev.key === "Home") next = all[0];
            if (ev.key === "End") next = all[all.length - 1];
            if (next) { ev.preventDefault(); refocus = true; next.setAttribute("tabindex", "0"); next.focus(); next.click(); setTimeout(mark, 50); }
          });
          tab.addEventListener("click", function () { setTimeout(mark, 50); });
        });
      });
    });
  }
  mark();
  setTimeout(mark, 1000);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Tab") mark(); }, true);
})();
