// The pay page's behaviour: countdown, live status, copy button, redirect after success.
// Status changes reload the page: the server renders every state, so the hidden content and the
// download link only ever arrive in a page rendered after the payment is paid.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kasir-page").textContent);
  var texts = data.texts;
  var deadline = Date.now() + data.seconds_left * 1000;
  var countdown = document.getElementById("countdown");
  var polling = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function poll() {
    if (polling) { return; }
    polling = true;
    fetch("/pay/status?invoice=" + encodeURIComponent(data.invoice), {
      cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (!body) { return; }
      if (body.payment.status !== data.status) { window.location.reload(); return; }
      deadline = Date.now() + body.payment.seconds_left * 1000;
    }).catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { polling = false; });
  }

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    var hours = Math.floor(left / 3600), minutes = Math.floor((left % 3600) / 60), seconds = left % 60;
    countdown.textContent = (hours ? hours + ":" + pad(minutes) : minutes) + ":" + pad(seconds);
    if (left === 0) { poll(); }
  }

  // A status change reloads the page, so the live region never sees it change: bring the new
  // status to the reader's attention instead.
  try {
    var seen = "kasir-status-" + data.invoice;
    if (data.status !== "pending" && window.sessionStorage.getItem(seen) === "pending") {
      document.getElementById("status").focus();
    }
    window.sessionStorage.setItem(seen, data.status);
  } catch (error) { /* storage refused (private mode): nothing to announce */ }

  if (data.status === "pending") {
    if (countdown) { tick(); window.setInterval(tick, 1000); }
    window.setInterval(poll, 1500);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var done = function () { button.textContent = button.getAttribute("data-copied"); };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(done, function () {});
      }
    });
  });

  if (data.status === "paid" && data.redirect_url) {
    var left = data.redirect_delay;
    var note = document.getElementById("redirect-note");
    var timer = window.setInterval(function () {
      left -= 1;
      if (note) { note.textContent = texts.redirecting.replace("{seconds}", String(Math.max(left, 0))); }
      if (left <= 0) { window.clearInterval(timer); window.location.assign(data.redirect_url); }
    }, 1000);
  }
}());
