// Convergences — annuaire : améliorations progressives uniquement (tout fonctionne sans).
// - formulaires .js-confirm : demande de confirmation avant envoi (texte dans data-confirm).
(function () {
  "use strict";
  document.querySelectorAll("form.js-confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var text = form.getAttribute("data-confirm");
      if (text && !window.confirm(text)) {
        event.preventDefault();
      }
    });
  });
})();
