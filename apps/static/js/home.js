// Home dashboard charts, drawn with the vendored Chart.js from the JSON block #dashboard-data.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart === "undefined") return;
  var data;
  try { data = JSON.parse(source.textContent); } catch (e) { return; }

  var STATUS_COLORS = {
    AGUARDANDO_DOWNLOAD: "#6c757d", AGUARDANDO_APROVACAO: "#ffc107",
    AGUARDANDO_ENVIO_SAT: "#0dcaf0", UPLOAD_REALIZADO: "#198754"
  };
  var drawn = [];  // the Chart objects on the page, redrawn when the theme changes

  function applyTheme() {
    var dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
    Chart.defaults.color = dark ? "#dee2e6" : "#212529";
    Chart.defaults.borderColor = dark ? "rgba(255,255,255,0.1)" : "rgba(0,0,0,0.1)";
  }

  function dayLabel(iso) {
    var parts = iso.split("-");  // "2026-05-14" -> "14/05"
    return parts[2] + "/" + parts[1];
  }

  function seconds(value) {
    var total = Math.round(value);
    if (total >= 3600) return Math.floor(total / 3600) + " h " + String(Math.floor(total % 3600 / 60)).padStart(2, "0") + " min";
    if (total >= 60) return Math.floor(total / 60) + " min " + String(total % 60).padStart(2, "0") + " s";
    return total + " s";
  }

  function drawStatus(canvas) {
    var rows = data.status.filter(function (s) { return s.total > 0; });
    if (!rows.length) return;
    return new Chart(canvas, {
      type: "doughnut",
      data: {
        labels: rows.map(function (s) { return s.label; }),
        datasets: [{ data: rows.map(function (s) { return s.total; }),
                     backgroundColor: rows.map(function (s) { return STATUS_COLORS[s.status]; }) }]
      },
      options: { plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }
    });
  }

  function drawPerDay(canvas) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.por_dia.dias.map(dayLabel),
        datasets: [
          { label: "Concluídas", data: data.por_dia.concluido, backgroundColor: "#198754", stack: "s" },
          { label: "Com falha", data: data.por_dia.falhou, backgroundColor: "#dc3545", stack: "s" }
        ]
      },
      options: {
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function drawDurations(canvas) {
    if (!data.duracoes.length) return;
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.duracoes.map(function (d) { return d.grupo; }),
        datasets: [
          { label: "Média", data: data.duracoes.map(function (d) { return d.media; }), backgroundColor: "#0d6efd" },
          { label: "p95", data: data.duracoes.map(function (d) { return d.p95; }), backgroundColor: "#fd7e14" }
        ]
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { callback: seconds } } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + seconds(ctx.parsed.x); } } }
        }
      }
    });
  }

  var charts = { "chart-status": drawStatus, "chart-por-dia": drawPerDay, "chart-duracoes": drawDurations };
  function drawAll() {
    drawn.forEach(function (chart) { chart.destroy(); });
    drawn = [];
    applyTheme();
    Object.keys(charts).forEach(function (id) {
      var canvas = document.getElementById(id);
      var chart = canvas && charts[id](canvas);
      if (chart) drawn.push(chart);
    });
  }
  drawAll();
  // The theme toggle only flips data-bs-theme: the axis and legend colours are baked into each chart,
  // so draw them again in the new theme's colours.
  new MutationObserver(drawAll).observe(document.documentElement, { attributes: true, attributeFilter: ["data-bs-theme"] });
})();
