// Starts Swagger UI on the docs page (kept out of the template: the CSP allows no inline script).
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  if (!node || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({ url: node.getAttribute("data-spec-url"), dom_id: "#swagger-ui", deepLinking: true });
})();
