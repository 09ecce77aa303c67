// Passkeys and security keys (WebAuthn), for the second step of the login, the confirmation
// of identity and the enrolment on the security page. The server sends the options as JSON
// with base64url strings; the browser API wants ArrayBuffers, and its answer goes back in a
// hidden field of the form, which is then submitted like any other.
(function () {
  'use strict';
  function decode(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  // Optional members sent as null are left out: the browser would read them as "null".
  function clean(o) {
    if (Array.isArray(o)) return o.map(clean);
    if (o && typeof o === 'object') {
      var out = {};
      Object.keys(o).forEach(function (k) { if (o[k] !== null) out[k] = clean(o[k]); });
      return out;
    }
    return o;
  }
  function creation(options) {
    var pk = clean(options.publicKey);
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return { publicKey: pk };
  }
  function request(options) {
    var pk = clean(options.publicKey);
    pk.challenge = decode(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return { publicKey: pk };
  }
  function registration(c) {
    return {
      id: c.id, rawId: encode(c.rawId), type: c.type,
      response: {
        attestationObject: encode(c.response.attestationObject),
        clientDataJSON: encode(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : []
      },
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function assertion(c) {
    return {
      id: c.id, rawId: encode(c.rawId), type: c.type,
      response: {
        authenticatorData: encode(c.response.authenticatorData),
        clientDataJSON: encode(c.response.clientDataJSON),
        signature: encode(c.response.signature),
        userHandle: c.response.userHandle ? encode(c.response.userHandle) : null
      },
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function field(form, name) { return form.querySelector('input[name="' + name + '"]'); }
  function say(form, text) {
    var s = form.querySelector('[data-passkey-status]');
    if (s) s.textContent = text;
  }
  function options(form, url) {
    var body = new URLSearchParams();
    body.set('csrf', field(form, 'csrf').value);
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body.toString()
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.error || 'Le serveur a refusé la demande. Rechargez la page.');
        return j;
      });
    });
  }
  function unsupported(form) {
    if (window.PublicKeyCredential) return false;
    say(form, "Votre navigateur ne prend pas en charge les clés de sécurité.");
    return true;
  }
  function failed(form, e) {
    say(form, e && e.name === 'NotAllowedError'
      ? "Opération annulée ou délai dépassé. Vous pouvez recommencer."
      : (e && e.message) || "La clé de sécurité n'a pas répondu. Recommencez.");
  }
  document.querySelectorAll('form[data-passkey-login]').forEach(function (form) {
    var button = form.querySelector('[data-passkey-start]');
    button.addEventListener('click', function () {
      if (unsupported(form)) return;
      say(form, 'Suivez les instructions de votre navigateur…');
      options(form, form.getAttribute('data-passkey-login')).then(function (j) {
        return navigator.credentials.get(request(j.options)).then(function (c) {
          field(form, 'ceremony').value = j.ceremony;
          field(form, 'response').value = JSON.stringify(assertion(c));
          form.submit();
        });
      }).catch(function (e) { failed(form, e); });
    });
  });
  document.querySelectorAll('form[data-passkey-register]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (field(form, 'response').value) return;
      event.preventDefault();
      if (unsupported(form)) return;
      say(form, 'Suivez les instructions de votre navigateur…');
      options(form, form.getAttribute('data-passkey-register')).then(function (j) {
        if (j.confirm) { window.location.href = j.confirm; return; }
        return navigator.credentials.create(creation(j.options)).then(function (c) {
          field(form, 'ceremony').value = j.ceremony;
          field(form, 'response').value = JSON.stringify(registration(c));
          form.submit();
        });
      }).catch(function (e) { failed(form, e); });
    });
  });
})();
