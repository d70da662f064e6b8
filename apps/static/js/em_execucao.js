// 'Em execução' page: one SSE stream of every status change; on each, the table is fetched again
// as server-rendered HTML. The stream is open only while the tab is visible. No inline handlers (CSP).
(function () {
  "use strict";
  var TABLE_ID = "em-execucao-table";
  if (!document.getElementById(TABLE_ID)) return;
  var script = document.currentScript;
  var streamUrl = (script && script.getAttribute("data-stream-url")) || "/api/v2/logs-tempo-real/stream-execucoes";
  var fragmentUrl = (script && script.getAttribute("data-fragment-url")) || "/em-execucao/fragmento";
  var FALLBACK = 15000, DEBOUNCE = 300;
  var source = null, timer = null, lastRefresh = Date.now(), hadError = false;

  function refresh() {
    timer = null;
    lastRefresh = Date.now();
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
      .catch(function () { /* the fallback timer tries again */ });
  }

  function refreshSoon() {
    if (!timer) timer = setTimeout(refresh, DEBOUNCE);  // a burst of changes costs one fetch
  }

  function connect() {
    if (source) return;
    source = new EventSource(streamUrl);
    source.addEventListener("connection", function () {
      if (hadError) refreshSoon();  // changes made while we were away were not sent to us
      hadError = false;
    });
    source.addEventListener("status", refreshSoon);
    source.addEventListener("error", function () { hadError = true; });
  }

  function disconnect() {
    if (source) { source.close(); source = null; }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { connect(); refreshSoon(); } else { disconnect(); }
  });
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function (event) { if (event.persisted) { connect(); refreshSoon(); } });
  // Durations keep growing and a lost event must not leave the table stale: refresh now and then.
  setInterval(function () {
    if (document.visibilityState === "visible" && Date.now() - lastRefresh >= FALLBACK) refresh();
  }, 1000);

  // 'Ver Logs' here opens the processo page with that run's log panel.
  document.addEventListener("click", function (event) {
    var button = event.target.closest('#' + TABLE_ID + ' [data-action="ver-logs"]');
    if (!button) return;
    var link = button.closest("tr").querySelector("a[href]");
    if (!link) return;
    event.preventDefault();
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("logs", button.getAttribute("data-execucao-id"));
    window.location.href = url.toString();
  });

  if (document.visibilityState === "visible") connect();
})();
