// Keep a page current while a run appends to the ledger: ask /live every few seconds and,
// when the ledger has moved on, reload — unless the person has started typing in a form,
// in which case say so and let them reload when done (a reload would lose their words).
"use strict";
(function () {
  var PERIOD_MS = 3000;
  var typed = false;

  function moved(state) {
    var drawn = Number(document.body.dataset.seq);
    var badge = document.getElementById("pending-count");
    if (badge) {
      badge.textContent = String(state.pending);
      badge.classList.toggle("zero", state.pending === 0);
    }
    if (state.seq === drawn) return;
    if (!typed) {
      window.location.reload();
      return;
    }
    document.getElementById("live-new").textContent = String(state.seq - drawn);
    document.getElementById("live").hidden = false;
  }

  function poll() {
    if (document.hidden) return; // a background tab costs nothing; it catches up when shown
    fetch("/live", { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) { if (state) moved(state); })
      .catch(function () { /* the server is gone or restarting: try again next time */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("input", function () { typed = true; });
    });
    document.getElementById("live-reload").addEventListener("click", function () { window.location.reload(); });
    document.addEventListener("visibilitychange", poll);
    window.setInterval(poll, PERIOD_MS);
  });
})();
