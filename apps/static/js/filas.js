// Filas page: optional auto-refresh every 10 s (remembered in this browser), paused while a trace is open.
(function () {
  "use strict";
  var toggle = document.getElementById("filas-auto-refresh");
  if (!toggle) return;
  var KEY = "rpa-filas-auto-refresh";
  var timer = null;
  function traceOpen() { return document.querySelector("pre.collapse.show, pre.collapsing") !== null; }
  function schedule() {
    clearTimeout(timer);
    if (!toggle.checked) return;
    timer = setTimeout(function () {
      if (traceOpen()) { schedule(); return; }
      window.location.reload();
    }, 10000);
  }
  try { toggle.checked = localStorage.getItem(KEY) === "1"; } catch (e) { /* storage blocked */ }
  toggle.addEventListener("change", function () {
    try { localStorage.setItem(KEY, toggle.checked ? "1" : "0"); } catch (e) { /* storage blocked */ }
    schedule();
  });
  schedule();
})();
