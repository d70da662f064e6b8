// After a form comes back with errors, move the focus to the first field in error (loaded on every
// page; no inline script: CSP). The field's error text is tied to it by aria-describedby, so a screen
// reader reads the message with the field.
(function () {
  "use strict";
  function focusFirstError() {
    var field = document.querySelector("main form [aria-invalid='true'], main form .is-invalid");
    if (!field || typeof field.focus !== "function") return;
    if (document.activeElement && document.activeElement !== document.body &&
        document.activeElement.matches("[aria-invalid='true'], .is-invalid")) return;
    field.focus({ preventScroll: true });
    field.scrollIntoView({ block: "center" });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", focusFirstError);
  else focusFirstError();
})();
