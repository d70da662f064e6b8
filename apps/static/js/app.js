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
  // <input type=checkbox data-check-all="selector"> toggles every matching box.
  document.querySelectorAll("[data-check-all]").forEach(function (master) {
    master.addEventListener("change", function () {
      document.querySelectorAll(master.getAttribute("data-check-all")).forEach(function (box) { box.checked = master.checked; });
    });
  });
})();
