// A "Working ..." badge for any answer the server takes more than 300 ms to send
// (a pick on millions of specs, a question view computed).  Per page, not per
// process: it watches this page's own websocket.  Bokeh sends each change of a
// widget as a message and the server answers once its callbacks have run, so the
// badge shows when a message sent 300 ms ago has had no answer, and hides at the
// next message received.  Panel's own busy indicator follows the whole process's
// busy state (every session's spinner would spin for any other session), so it is off.
(function () {
  if (window.__scdBusyBadge) return;
  window.__scdBusyBadge = true;
  var DELAY_MS = 300;
  var badge = document.createElement("div");
  badge.className = "scd-busy";
  badge.setAttribute("role", "status");
  badge.setAttribute("aria-live", "polite");
  badge.textContent = "Working ...";
  badge.style.cssText = "position:fixed;top:14px;right:18px;z-index:10000;padding:4px 12px;" +
    "border-radius:12px;background:#fff3cd;color:#664d03;font:14px sans-serif;" +
    "box-shadow:0 1px 4px rgba(0,0,0,.3);display:none";
  document.body.appendChild(badge);
  var timer = null;
  function idle() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    badge.style.display = "none";
  }
  var send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!this.__scdWatched) {
      this.__scdWatched = true;
      this.addEventListener("message", idle);
      this.addEventListener("close", idle);
    }
    if (timer === null) {
      timer = setTimeout(function () { badge.style.display = "block"; }, DELAY_MS);
    }
    return send.apply(this, arguments);
  };
})();
