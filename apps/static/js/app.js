// Page behaviour shared by every page: theme toggle and confirmations (no inline handlers: CSP).
(function () {
  "use strict";
  var toggle = document.getElementById("theme-toggle");
  function icon() {
    if (!toggle) return;
    var dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
    toggle.innerHTML = dark ? '<i class="bi bi-sun"></i>' : '<i class="bi bi-moon-stars"></i>';
  }
  if (toggle) {
    icon();
    toggle.addEventListener("click", function () {
      var next = document.documentElement.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-bs-theme", next);
      try { localStorage.setItem("rpa-theme", next); } catch (e) { /* storage blocked */ }
      icon();
    });
  }
  // <form data-confirm="Texto">: ask before submitting; {n} is replaced by the number of checked boxes.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (!message) return;
    var selector = form.getAttribute("data-count-selector");
    if (selector) {
      var n = document.querySelectorAll(selector + ":checked").length;
      if (n === 0) { event.preventDefault(); alert("Selecione pelo menos um item."); return; }
      message = message.replace("{n}", String(n));
    }
    if (!window.confirm(message)) event.preventDefault();
  });
  // A submit button is disabled after the first click so a double click sends one request.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var buttons = event.target.querySelectorAll("button[type=submit]");
    setTimeout(function () { buttons.forEach(function (b) { b.disabled = true; }); }, 0);
  });
  // A frame that scrolls (a wide table on a phone, a long <pre>) must be reachable by keyboard: give it
  // the focus (tabindex=0) only while it really scrolls, with a name for screen readers.
  function scrollFrames() {
    document.querySelectorAll(".table-responsive, pre").forEach(function (frame) {
      var scrolls = frame.scrollWidth > frame.clientWidth + 1 || frame.scrollHeight > frame.clientHeight + 1;
      if (scrolls && !frame.hasAttribute("tabindex")) {
        frame.setAttribute("tabindex", "0");
        frame.setAttribute("data-scroll-frame", "");
        if (!frame.hasAttribute("aria-label") && !frame.hasAttribute("role")) {
          frame.setAttribute("data-scroll-frame", "named");
          frame.setAttribute("role", "region");
          frame.setAttribute("aria-label", frame.tagName === "PRE" ? "Texto com rolagem" : "Tabela com rolagem horizontal");
        }
      } else if (!scrolls && frame.hasAttribute("data-scroll-frame")) {
        var named = frame.getAttribute("data-scroll-frame") === "named";
        (named ? ["tabindex", "data-scroll-frame", "role", "aria-label"] : ["tabindex", "data-scroll-frame"])
          .forEach(function (name) { frame.removeAttribute(name); });
      }
    });
  }
  scrollFrames();
  var resizing = null;
  window.addEventListener("resize", function () { clearTimeout(resizing); resizing = setTimeout(scrollFrames, 150); });
  window.addEventListener("load", scrollFrames);
  // Live pages replace their tables (em execução, a processo's panel): check the new frames too.
  var main = document.getElementById("main");
  if (main && window.MutationObserver) {
    var pending = null;
    new MutationObserver(function () {
      if (pending) return;
      pending = setTimeout(function () { pending = null; scrollFrames(); }, 50);
    }).observe(main, { childList: true, subtree: true });
  }
  // <input type=checkbox data-check-all="selector"> toggles every matching box.
  document.querySelectorAll("[data-check-all]").forEach(function (master) {
    master.addEventListener("change", function () {
      document.querySelectorAll(master.getAttribute("data-check-all")).forEach(function (box) { box.checked = master.checked; });
    });
  });
})();
