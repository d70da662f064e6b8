// Lote pages: size each progress bar from its data-pct (no inline style: CSP); on a lote's page, while it
// is preparing or running, poll its counts every 2 s and move the bar, then reload once it ends.
(function () {
  "use strict";
  function size(bar, pct) {
    pct = Math.max(0, Math.min(100, Number(pct) || 0));
    bar.style.width = pct + "%";
    var outer = bar.closest(".progress");
    if (outer) outer.setAttribute("aria-valuenow", String(pct));
    return pct;
  }
  document.querySelectorAll(".progress-bar[data-pct]").forEach(function (bar) { size(bar, bar.getAttribute("data-pct")); });

  var box = document.querySelector("[data-lote-poll]");
  if (!box) return;
  var running = { PROCESSANDO: true, EM_EXECUCAO: true };
  if (!running[box.getAttribute("data-lote-status")]) return;
  var url = box.getAttribute("data-lote-poll");
  var bar = box.querySelector(".progress-bar");
  var label = box.querySelector("[data-progresso-label]");

  function show(data) {
    ["total", "concluidas", "falhas", "aguardando"].forEach(function (name) {
      var cell = box.querySelector('[data-count="' + name + '"]');
      if (cell) cell.textContent = String(data[name]);
    });
    var done = data.total ? Math.floor(100 * (data.concluidas + data.falhas) / data.total) : 100;
    label.textContent = size(bar, done) + "%";
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (!running[data.status]) { window.location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
