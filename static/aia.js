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

// Recherche au fil de la saisie (AFFECTER) : à partir de 3 caractères, la zone de résultats
// (région aria-live) est remplacée par celle de la page de résultats, sans changer de page ni
// déplacer le focus. Sans JavaScript, le bouton « Rechercher » fait la même chose.
(function () {
  "use strict";
  document.querySelectorAll("input[data-live-search]").forEach(function (input) {
    var target = document.getElementById(input.getAttribute("data-live-search"));
    var form = input.form;
    if (!target || !form || !window.fetch || !window.DOMParser) {
      return;
    }
    var timer = null;
    var last = input.value;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var value = input.value.trim();
        if (value === last || value.length < 3) {
          return;
        }
        last = value;
        var url = form.getAttribute("action") + "?q=" + encodeURIComponent(value);
        window.fetch(url, { credentials: "same-origin" })
          .then(function (res) { return res.ok ? res.text() : null; })
          .then(function (html) {
            if (!html) {
              return;
            }
            var doc = new window.DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById(target.id);
            if (fresh) {
              target.innerHTML = fresh.innerHTML;
            }
          })
          .catch(function () { /* la recherche classique reste disponible */ });
      }, 350);
    });
  });
})();
