// Applies the remembered colour theme before the page paints (loaded in <head>, no inline script).
(function () {
  var saved = null;
  try { saved = localStorage.getItem("rpa-theme"); } catch (e) { /* storage blocked */ }
  var prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-bs-theme", saved || (prefersDark ? "dark" : "light"));
})();
