// Aprovações: the inbox's selection summary (count and total before confirming) and the review view's
// keyboard shortcuts (A approve, R reject, J/K next/previous PDF). No inline script (CSP).
(function () {
  "use strict";
  function brl(cents) {
    var negative = cents < 0, value = Math.abs(cents);
    var inteiro = Math.floor(value / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    var centavos = String(value % 100).padStart(2, "0");
    return (negative ? "-" : "") + "R$ " + inteiro + "," + centavos;
  }
  function cents(text) {
    var parts = String(text || "0").split(".");
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
  }

  // --- inbox -----------------------------------------------------------------------------------
  var form = document.getElementById("aprovacoes-form");
  if (form) {
    var resumo = document.getElementById("selecao-resumo");
    var boxes = form.querySelectorAll("input[name=ids]");
    var all = document.getElementById("selecionar-todos");
    var update = function () {
      var n = 0, total = 0;
      boxes.forEach(function (box) { if (box.checked) { n += 1; total += cents(box.getAttribute("data-total")); } });
      resumo.textContent = n ? n + " selecionado(s) · total " + brl(total) : "Nenhum selecionado.";
      resumo.setAttribute("data-selecionados", String(n));
      resumo.setAttribute("data-total-centavos", String(total));
    };
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    form.addEventListener("submit", function (event) {
      if (!form.querySelector("input[name=ids]:checked")) {
        event.preventDefault();
        resumo.textContent = "Selecione pelo menos um processo.";
      }
    });
    update();
  }

  // --- review view -----------------------------------------------------------------------------
  var revisao = document.getElementById("revisao");
  if (!revisao) return;
  var links = Array.prototype.slice.call(document.querySelectorAll("#revisao-faturas a[data-pdf]"));
  var current = -1;
  function mark(index) {
    links.forEach(function (link, i) {
      var item = link.closest("li");
      item.classList.toggle("active", i === index);
      if (i === index) { link.setAttribute("aria-current", "true"); } else { link.removeAttribute("aria-current"); }
    });
  }
  function openPdf(index) {
    current = index;
    mark(index);
    window.open(links[index].href, "fatura-pdf");
    links[index].focus();
  }
  links.forEach(function (link, i) { link.addEventListener("click", function () { current = i; mark(i); }); });
  function go(attr) {
    var url = revisao.getAttribute(attr);
    if (url) window.location.assign(url);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT" ||
                            target.isContentEditable);
    if (typing) return;
    var key = event.key.toLowerCase();
    if (key === "a") {
      event.preventDefault();
      document.getElementById("btn-aprovar").click();
    } else if (key === "r") {
      event.preventDefault();
      document.getElementById("rejeitar-motivo").focus();
    } else if (key === "j") {
      event.preventDefault();
      if (current + 1 < links.length) { openPdf(current + 1); } else { go("data-proximo"); }
    } else if (key === "k") {
      event.preventDefault();
      if (current - 1 >= 0) { openPdf(current - 1); } else { go("data-anterior"); }
    }
  });
})();
