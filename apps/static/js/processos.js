// Processos pages: the bulk confirmation text per button, and adding/removing invoices in the manual upload.
(function () {
  "use strict";

  // Bulk form: the clicked button's data-bulk-confirm becomes the form's data-confirm (read by app.js).
  var bulk = document.getElementById("bulk-form");
  if (bulk) {
    bulk.querySelectorAll("button[data-bulk-confirm]").forEach(function (button) {
      button.addEventListener("click", function () {
        bulk.setAttribute("data-confirm", button.getAttribute("data-bulk-confirm"));
      });
    });
  }

  // Manual upload: clone the first invoice block, renumbering faturas-0-* to faturas-N-*.
  var entries = document.getElementById("fatura-entries");
  var add = document.getElementById("add-fatura");
  if (!entries || !add) return;
  var max = parseInt(add.getAttribute("data-max") || "20", 10);

  function blocks() { return entries.querySelectorAll(".fatura-entry"); }

  function renumber() {
    blocks().forEach(function (block, index) {
      block.setAttribute("data-index", String(index));
      block.querySelector(".fatura-n").textContent = String(index + 1);
      block.querySelectorAll("[name], [id], label[for], [aria-describedby]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^faturas-\d+-/, "faturas-" + index + "-"));
        });
      });
      var remove = block.querySelector("[data-remove-fatura]");
      if (remove) remove.classList.toggle("d-none", blocks().length === 1);
    });
    add.disabled = blocks().length >= max;
  }

  function clean(block) {
    block.querySelectorAll("input").forEach(function (input) { input.value = ""; input.classList.remove("is-invalid"); });
    block.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
  }

  add.classList.remove("d-none");
  add.addEventListener("click", function () {
    if (blocks().length >= max) return;
    var copy = blocks()[0].cloneNode(true);
    clean(copy);
    entries.appendChild(copy);
    renumber();
    var first = copy.querySelector("input[type=file]");
    if (first) first.focus();
  });
  entries.addEventListener("click", function (event) {
    var remove = event.target.closest("[data-remove-fatura]");
    if (!remove || blocks().length === 1) return;
    remove.closest(".fatura-entry").remove();
    renumber();
  });
  renumber();
})();
