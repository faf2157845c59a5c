// The logout page: each frame carries a LogoutRequest to a service and comes back to the IdP
// with the service's answer. A line says what came back; a service that does not answer in
// time is reported, and never keeps the person waiting.
(function () {
  "use strict";
  var WAIT_MS = 8000;
  var lines = Array.prototype.slice.call(document.querySelectorAll("#logout-services li"));
  var pending = lines.filter(function (li) { return li.querySelector("iframe.logout-frame"); });
  var next = document.getElementById("logout-next");
  var finished = false;

  function finish() {
    if (finished) { return; }
    finished = true;
    if (next) { window.location.assign(next.href); }
  }

  function settle(li, text) {
    var status = li.querySelector(".logout-status");
    if (status.getAttribute("data-pending")) {
      status.removeAttribute("data-pending");
      status.textContent = text;
    }
    if (pending.every(function (p) { return !p.querySelector("[data-pending]"); })) {
      finish();
    }
  }

  pending.forEach(function (li) {
    var frame = li.querySelector("iframe.logout-frame");
    frame.addEventListener("load", function () {
      var answer = null;
      try {
        // readable only once the frame is back on the IdP
        answer = frame.contentDocument && frame.contentDocument.body.getAttribute("data-logout");
      } catch (e) { answer = null; }
      if (answer === "ok") { settle(li, "Déconnecté"); }
      else if (answer === "refused") { settle(li, "Déconnexion non confirmée par le service"); }
    });
  });

  if (pending.length === 0) { finish(); return; }
  window.setTimeout(function () {
    pending.forEach(function (li) { settle(li, "Le service n'a pas répondu à temps"); });
    finish();
  }, WAIT_MS);
})();
