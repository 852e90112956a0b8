// Passkeys (WebAuthn): a form marked data-passkey="create" or "get" runs
// navigator.credentials with the options in its data-options attribute
// (binary fields in base64url) and posts the answer, as JSON with binary
// fields in base64url, in its "passkey" field. Without this script the
// form posts an empty answer and the server says passkeys need JavaScript.
(function () {
  "use strict";
  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function enc(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = dec(c.id); });
  }
  async function run(form) {
    var o = JSON.parse(form.dataset.options).publicKey;
    o.challenge = dec(o.challenge);
    if (form.dataset.passkey === "create") {
      o.user.id = dec(o.user.id);
      ids(o.excludeCredentials);
      var c = await navigator.credentials.create({ publicKey: o });
      return {
        id: c.id, rawId: enc(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || null,
        response: {
          attestationObject: enc(c.response.attestationObject),
          clientDataJSON: enc(c.response.clientDataJSON),
          transports: c.response.getTransports ? c.response.getTransports() : []
        },
        extensions: {}
      };
    }
    ids(o.allowCredentials);
    var a = await navigator.credentials.get({ publicKey: o });
    return {
      id: a.id, rawId: enc(a.rawId), type: a.type,
      response: {
        authenticatorData: enc(a.response.authenticatorData),
        clientDataJSON: enc(a.response.clientDataJSON),
        signature: enc(a.response.signature),
        userHandle: a.response.userHandle ? enc(a.response.userHandle) : null
      },
      extensions: {}
    };
  }
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = form.querySelector(".passkey-error");
      run(form).then(function (answer) {
        form.elements.passkey.value = JSON.stringify(answer);
        form.submit();
      }, function (e) {
        if (status) { status.textContent = "The passkey did not answer (" + e.name + "). Try again."; status.hidden = false; }
      });
    });
  });
})();
