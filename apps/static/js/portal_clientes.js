// Portal: the cliente field of a serviço when there are too many clientes for a select. As the person
// types (2+ characters, 250 ms after the last key), /portal/clientes answers up to 20 matches, shown in the
// field's datalist: the option's value is the CNPJ (what the server reads), its label the name.
(function () {
  "use strict";
  var DELAY = 250, timers = new WeakMap(), latest = new WeakMap();

  function fill(input, items) {
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) return;
    list.replaceChildren.apply(list, items.map(function (item) {
      var option = document.createElement("option");
      option.value = item.cnpj;
      option.label = item.nome + " · " + item.operadora;
      option.textContent = item.nome + " · " + item.operadora;
      return option;
    }));
  }

  function search(input) {
    var q = input.value.trim();
    if (q.length < 2) { fill(input, []); return; }
    var url = new URL(input.getAttribute("data-busca-url"), window.location.href);
    url.searchParams.set("q", q);
    latest.set(input, q);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("busca " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (latest.get(input) === q) fill(input, body.items || []);  // an older answer arriving late is dropped
      })
      .catch(function () { /* the person can still type the CNPJ */ });
  }

  document.addEventListener("input", function (event) {
    var input = event.target.closest && event.target.closest("input[data-busca-url]");
    if (!input) return;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () { search(input); }, DELAY));
  });
})();
