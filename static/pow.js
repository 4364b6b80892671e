// Envoi's proof-of-work check for signup forms (internal/pow; the ALTCHA
// "SHA-256" scheme). A form with data-pow="URL" gets a challenge from URL,
// finds the number whose SHA-256 with the salt is the challenge, and puts the
// answer in its "altcha" field; the submit button waits for it. No cookie,
// nothing sent anywhere but the form's own server.
(function () {
  "use strict";
  var enc = new TextEncoder();
  function hex(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }
  async function solve(c) {
    for (var n = 0; n <= c.maxnumber; n++) {
      if (hex(await crypto.subtle.digest("SHA-256", enc.encode(c.salt + n))) === c.challenge) return n;
    }
    return -1;
  }
  async function run(form) {
    var field = form.querySelector('input[name="altcha"]');
    var status = form.querySelector("[data-pow-status]");
    var button = form.querySelector('button[type="submit"]');
    var say = function (t) { if (status) status.textContent = t; };
    button.disabled = true;
    if (!window.crypto || !crypto.subtle) {
      say("This form needs a secure (https) connection for its anti-robot check.");
      return;
    }
    say("Checking that you are not a robot…");
    try {
      var r = await fetch(form.getAttribute("data-pow"), { headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store" });
      if (!r.ok) throw new Error("challenge " + r.status);
      var c = await r.json();
      var n = await solve(c);
      if (n < 0) throw new Error("unsolved");
      field.value = btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number: n, salt: c.salt, signature: c.signature }));
      say("Check done: you can subscribe.");
      button.disabled = false;
    } catch (e) {
      say("The anti-robot check could not run; reload the page to try again.");
    }
  }
  function start() {
    var forms = document.querySelectorAll("form[data-pow]");
    for (var i = 0; i < forms.length; i++) run(forms[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
