// Convergences — annuaire : améliorations progressives uniquement (tout fonctionne sans).
// - le récapitulatif des erreurs d'un formulaire reçoit le focus (lecteurs d'écran) ;
// - formulaires .js-confirm : confirmation avant envoi (texte dans data-confirm) ;
// - case « tout sélectionner » des listes de membres.
(function () {
  "use strict";
  var summary = document.getElementById("erreurs");
  if (summary) {
    summary.focus();
  }
  document.querySelectorAll("form.js-confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var text = form.getAttribute("data-confirm");
      if (text && !window.confirm(text)) {
        event.preventDefault();
      }
    });
  });
  document.querySelectorAll("input.js-select-all").forEach(function (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      var form = all.form;
      if (!form) {
        return;
      }
      form.querySelectorAll("input[type=checkbox][name=" + all.getAttribute("data-name") + "]").forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
})();
