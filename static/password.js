// Live, accessible explanation of the password policy (progressive enhancement: the server
// checks the same rules and the form works without this script).
(function () {
  "use strict";
  var input = document.getElementById("password");
  var confirmation = document.getElementById("confirmation");
  var list = document.getElementById("policy-rules");
  if (!input || !list) { return; }
  var rules = {
    length: function (p) { return p.length >= 12; },
    upper: function (p) { return /[A-ZÀ-ÖØ-Þ]/.test(p); },
    lower: function (p) { return /[a-zß-öø-ÿ]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    special: function (p) { return /[^A-Za-zÀ-ÖØ-öø-ÿ0-9]/.test(p); },
    passphrase: function (p) { return p.length >= 20; },
    same: function (p) { return confirmation && confirmation.value.length > 0 && confirmation.value === p; }
  };
  function update() {
    var p = input.value;
    Array.prototype.forEach.call(list.querySelectorAll("[data-rule]"), function (item) {
      var ok = rules[item.getAttribute("data-rule")](p);
      item.classList.toggle("rule-ok", ok);
      var state = item.querySelector(".rule-state");
      if (state) { state.textContent = ok ? "respecté" : "non respecté"; }
    });
  }
  input.addEventListener("input", update);
  if (confirmation) { confirmation.addEventListener("input", update); }
  list.hidden = false;
  update();
})();
