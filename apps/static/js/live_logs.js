// Processo detail page: the live log panel (SSE) and the live status, runs, invoices and history.
// Log messages are inserted with textContent, never as HTML; the live parts are server-rendered
// HTML of the dashboard (robot text in them escaped by Jinja). No inline handlers (CSP).
(function () {
  "use strict";
  var panel = document.getElementById("live-panel");
  if (!panel) return;

  var LEVELS = { DEBUG: 1, INFO: 1, WARNING: 1, ERROR: 1 };
  var LIVE_PARTS = ["processo-status", "execucoes-table", "faturas-table", "processo-historico", "artefatos-table"];
  var ACTIVE = { PENDENTE: 1, EXECUTANDO: 1 };
  var STARTED_BANNER = "Execução iniciada";  // the flash of processos.executar, stale once the run ends
  var partsUrl = panel.getAttribute("data-live-url") || panel.getAttribute("data-fragment-url");
  var BADGES = {
    conectado: ["Conectado", "success"], reconectando: ["Reconectando", "warning"], erro: ["Erro", "danger"],
    conectando: ["Conectando", "secondary"], parado: ["Parado", "secondary"],
    concluido: ["Concluído", "success"], falhou: ["Falhou", "danger"]
  };
  // A refused stream (session expired, or 429: too many open streams) is retried after 5 s, then
  // 10, 20… up to 60 s; a stream the server ends (maximum duration, restart) is resumed by the
  // browser itself after the `retry:` it sent, with Last-Event-ID, so no line is lost or repeated.
  var FAST_REFRESH = 5000, SLOW_REFRESH = 15000, RETRY_AFTER_ERROR = 5000, RETRY_MAX = 60000;
  var retryDelay = RETRY_AFTER_ERROR;
  var maxLines = parseInt(panel.getAttribute("data-max-lines") || "2000", 10);
  var timeFormat = { timeZone: panel.getAttribute("data-timezone") || undefined };

  function part(name) { return panel.querySelector('[data-live="' + name + '"]'); }
  var box = part("lines"), badge = part("badge");

  var run = null;           // {execucaoId, jobId, auto}
  var dismissed = null;     // the run whose panel the person closed: not reopened by itself
  var source = null;        // the EventSource
  var lastSeq = 0, shown = 0, hidden = 0, follow = true, ended = false;
  var pending = [], flushTimer = null, retryTimer = null, refreshTimer = null, lastRefresh = 0;
  var lastStaleCheck = 0;   // when a log line last made us look at a row that looked out of date

  function setBadge(state) {
    var spec = BADGES[state];
    badge.textContent = spec[0];
    badge.className = "badge text-bg-" + spec[1];
    badge.setAttribute("data-state", state);
  }

  function counts() {
    part("count").textContent = shown + " linha(s) recebida(s)";
    var note = part("hidden-count");
    note.classList.toggle("d-none", hidden === 0);
    note.textContent = hidden ? hidden + " linha(s) mais antiga(s) ocultas; baixe o log completo para ver todas." : "";
  }

  function timeOf(date) {
    try { return date.toLocaleTimeString("pt-BR", timeFormat); } catch (e) { return date.toLocaleTimeString("pt-BR"); }
  }

  function lineNode(data) {
    var level = LEVELS[data.level] ? data.level : "INFO";
    var row = document.createElement("div");
    row.className = "log-line log-" + level;
    row.setAttribute("data-seq", String(data.seq));
    var when = document.createElement("span");
    when.className = "text-body-secondary me-2";
    var date = new Date(data.timestamp);
    when.textContent = isNaN(date) ? "" : timeOf(date);
    var text = document.createElement("span");
    text.textContent = "[" + level + "] " + String(data.message == null ? "" : data.message);
    row.appendChild(when);
    row.appendChild(text);
    return row;
  }

  function flush() {
    flushTimer = null;
    if (!pending.length) return;
    var fragment = document.createDocumentFragment();
    pending.forEach(function (data) { fragment.appendChild(lineNode(data)); });
    shown += pending.length;
    pending = [];
    box.appendChild(fragment);
    while (box.childElementCount > maxLines) { box.removeChild(box.firstElementChild); hidden += 1; }
    counts();
    if (follow) box.scrollTop = box.scrollHeight;
  }

  function addLine(data) {
    var seq = parseInt(data.seq, 10);
    if (!(seq > lastSeq)) return;  // already shown (a reconnect never repeats a line)
    lastSeq = seq;
    pending.push(data);
    if (!flushTimer) flushTimer = setTimeout(flush, 30);
  }

  box.addEventListener("scroll", function () {
    follow = box.scrollHeight - box.scrollTop - box.clientHeight < 16;
    part("paused").classList.toggle("d-none", follow);
  });

  function streamUrl() {
    var ref = run.jobId || run.execucaoId;
    var url = panel.getAttribute("data-stream-url").replace("__ref__", encodeURIComponent(ref));
    return lastSeq ? url + "?last_event_id=" + lastSeq : url;  // a new EventSource cannot send Last-Event-ID
  }

  function closeSource() {
    if (source) { source.close(); source = null; }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  }

  function finish(state) {
    ended = true;
    closeSource();
    flush();
    setBadge(state);
    setFollowing(true);
    part("stop").disabled = true;
    syncCancel();
    refreshSoon(0);
  }

  // "Pausar acompanhamento" only stops showing new lines here; the robot goes on.
  function setFollowing(following) {
    part("stop-label").textContent = following ? "Pausar acompanhamento" : "Retomar acompanhamento";
    part("stop-icon").className = following ? "bi bi-pause-fill" : "bi bi-play-fill";
  }

  function rowOf(execucaoId) {
    return document.querySelector('#execucoes-table tr[data-execucao-id="' + CSS.escape(execucaoId) + '"]');
  }

  // "Cancelar execução" (Operador or above: the form exists only for them) while the followed run is active.
  function syncCancel() {
    var form = part("cancel-form");
    if (!form) return;
    var row = run && rowOf(run.execucaoId);
    var active = !!(row && ACTIVE[row.getAttribute("data-status")] && !ended);
    if (active) form.setAttribute("action", form.getAttribute("data-url").replace("__id__", encodeURIComponent(run.execucaoId)));
    form.classList.toggle("d-none", !active);
  }

  // A row that says less than the stream knows (still PENDENTE, or without the job id) is fetched again.
  function checkRow(status, jobId) {
    var row = run && rowOf(run.execucaoId);
    if (!row) return;
    var stale = (status && row.getAttribute("data-status") !== status) ||
      (jobId && row.getAttribute("data-job-id") !== String(jobId));
    if (stale && Date.now() - lastStaleCheck > 1000) { lastStaleCheck = Date.now(); refreshSoon(0); }
  }

  function learnJob(data) {  // a run followed while PENDENTE gets its RPA job id when it starts
    if (run && data.job_id && !run.jobId) { run.jobId = data.job_id; part("ref").textContent = "job " + run.jobId; }
  }

  function connect() {
    closeSource();
    ended = false;
    part("stop").disabled = false;
    setFollowing(true);
    setBadge("conectando");
    var es = source = new EventSource(streamUrl());
    es.addEventListener("open", function () { setBadge("conectado"); });
    es.addEventListener("connection", function (event) {
      setBadge("conectado");
      retryDelay = RETRY_AFTER_ERROR;
      var hello = JSON.parse(event.data);
      learnJob(hello);
      checkRow(hello.status, hello.job_id);  // a status change published before we subscribed
    });
    es.addEventListener("log", function (event) {
      var data = JSON.parse(event.data);
      addLine(data);
      checkRow(null, data.job_id);  // lines carry the job id: the robot works, whatever the row says
    });
    es.addEventListener("status", function (event) { learnJob(JSON.parse(event.data)); refreshSoon(0); });
    es.addEventListener("job_completed", function () { finish("concluido"); });
    es.addEventListener("job_failed", function () { finish("falhou"); });
    es.addEventListener("error", function () {
      if (source !== es || ended) return;
      if (es.readyState === EventSource.CONNECTING) { setBadge("reconectando"); return; }
      setBadge("erro");  // refused (e.g. session expired): try again later from the last line shown
      closeSource();
      retryTimer = setTimeout(function () { if (run && !ended) connect(); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
    });
  }

  function open(execucaoId, jobId, auto) {
    closeSource();
    run = { execucaoId: execucaoId, jobId: jobId || "", auto: !!auto };
    lastSeq = 0; shown = 0; hidden = 0; pending = []; follow = true;
    box.textContent = "";
    counts();
    part("ref").textContent = run.jobId ? "job " + run.jobId : "execução " + run.execucaoId;
    part("download").setAttribute("href", panel.getAttribute("data-log-url").replace("__id__", encodeURIComponent(execucaoId)));
    panel.classList.remove("d-none");
    connect();
    syncCancel();
  }

  function stop() {
    if (source || retryTimer) {
      closeSource();
      flush();  // what already arrived is shown; nothing more will
      setBadge("parado");
      setFollowing(false);
    } else if (run && !ended) {
      connect();  // resumes after the last line shown
    }
  }

  function hide() {
    closeSource();
    if (run) dismissed = run.execucaoId;
    run = null;
    panel.classList.add("d-none");
  }

  // Live parts of the page: fetched as server-rendered HTML and swapped in by element id.
  function swapParts(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    LIVE_PARTS.forEach(function (id) {
      var fresh = doc.getElementById(id), current = document.getElementById(id);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    });
    syncCancel();
    if (!activeRun()) dismissStartedBanner();
  }

  // The "Execução iniciada" flash speaks of a run in progress: once none is, it goes.
  function dismissStartedBanner() {
    document.querySelectorAll(".alert").forEach(function (alert) {
      if (alert.textContent.trim().indexOf(STARTED_BANNER) !== 0) return;
      if (window.bootstrap && window.bootstrap.Alert) window.bootstrap.Alert.getOrCreateInstance(alert).close();
      else alert.remove();
    });
  }

  function activeRun() {
    var marker = document.querySelector("#processo-status [data-execucao-ativa]");
    if (!marker) return null;
    var id = marker.getAttribute("data-execucao-ativa");
    var row = rowOf(id);
    return { execucaoId: id, jobId: row ? row.getAttribute("data-job-id") || "" : "" };
  }

  function followActive() {
    var active = activeRun();
    if (!active || active.execucaoId === dismissed) return;
    if (!run || (run.auto && ended && run.execucaoId !== active.execucaoId)) open(active.execucaoId, active.jobId, true);
  }

  function refresh() {
    lastRefresh = Date.now();
    fetch(partsUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("fragmento " + response.status);
        return response.text();
      })
      .then(function (html) { swapParts(html); followActive(); })
      .catch(function () { /* the next tick tries again */ });
  }

  function refreshSoon(delay) {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, delay);
  }

  // Fallback timer: every 5 s while a run is active (or streamed), 15 s otherwise; never in a hidden tab.
  setInterval(function () {
    if (document.visibilityState !== "visible") return;
    var busy = source !== null || activeRun() !== null;
    if (Date.now() - lastRefresh >= (busy ? FAST_REFRESH : SLOW_REFRESH) - 100) refresh();
  }, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });
  window.addEventListener("pagehide", function () { closeSource(); });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && run && !ended) connect();  // back from the page cache
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest('[data-action="ver-logs"]');
    if (!button) return;
    event.preventDefault();
    open(button.getAttribute("data-execucao-id"), button.getAttribute("data-job-id"), false);
    panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
  });
  part("stop").addEventListener("click", stop);
  part("close").addEventListener("click", hide);

  var wanted = new URLSearchParams(window.location.search).get("logs");
  if (wanted) {
    var row = rowOf(wanted);
    open(wanted, row ? row.getAttribute("data-job-id") : "", false);
  } else if (panel.getAttribute("data-ativa-id")) {
    open(panel.getAttribute("data-ativa-id"), panel.getAttribute("data-ativa-job"), true);
  }
  lastRefresh = Date.now();
})();
