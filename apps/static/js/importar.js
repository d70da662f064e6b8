// Import result page: while the import runs, poll its status every second and move the bar;
// when it ends, reload to show the report. No inline script (CSP).
(function () {
  "use strict";
  var box = document.querySelector("[data-importacao-poll]");
  if (!box) return;
  var url = box.getAttribute("data-importacao-poll");
  var progress = box.querySelector(".progress");
  var bar = box.querySelector(".progress-bar");
  var label = box.querySelector("[data-progresso-label]");

  function show(value) {
    var pct = Math.max(0, Math.min(100, Number(value) || 0));
    bar.style.width = pct + "%";
    progress.setAttribute("aria-valuenow", String(pct));
    label.textContent = pct + "%";
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        show(data.progresso);
        if (data.status !== "PROCESSANDO") { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });  // a hiccup: try again a little later
  }

  show(box.getAttribute("data-progresso"));
  setTimeout(poll, 1000);
})();
