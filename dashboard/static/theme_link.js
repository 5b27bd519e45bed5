// The header's theme link (a.theme-switch) keeps the selection: the address's other
// query parameters (tag, stack, view, ...) change as the user picks, after the link
// was drawn, so its href only names the theme.  A click (mouse, or Enter from the
// keyboard) is caught here, on the document, and goes to the current address with
// only `theme` replaced.  The link lives in a shadow root: composedPath() finds it.
(function () {
  if (window.__themeLinkKeepsSelection) return;
  window.__themeLinkKeepsSelection = true;
  document.addEventListener("click", function (ev) {
    var path = ev.composedPath ? ev.composedPath() : [];
    for (var i = 0; i < path.length; i++) {
      var el = path[i];
      if (el && el.classList && el.classList.contains("theme-switch") && el.tagName === "A") {
        var target = new URL(el.getAttribute("href"), window.location.href).searchParams.get("theme");
        var u = new URL(window.location.href);
        u.searchParams.set("theme", target);
        ev.preventDefault();
        window.location.href = u.toString();
        return;
      }
    }
  }, true);
})();
