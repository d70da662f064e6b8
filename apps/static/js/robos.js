// Robôs page: the table is fetched again as server-rendered HTML every few seconds while the tab is
// visible (statuses move with the heartbeat, loads with every run). No inline handlers (CSP).
(function () {
  "use strict";
  var TABLE_ID = "robos-tabela";
  if (!document.getElementById(TABLE_ID)) return;
  var script = document.currentScript;
  var fragmentUrl = (script && script.getAttribute("data-fragment-url")) || "/robos/fragmento";
  var INTERVAL = 5000, busy = false;

  function refresh() {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    fetch(fragmentUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("fragmento " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(TABLE_ID);
        var current = document.getElementById(TABLE_ID);
        if (fresh && current) current.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }

  setInterval(refresh, INTERVAL);
  document.addEventListener("visibilitychange", refresh);
})();
