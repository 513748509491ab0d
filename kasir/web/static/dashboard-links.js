// The payment link page's copy button (kasir/web/templates/dashboard/links_detail.html). The page
// works without it: the link is in a read-only field to select by hand; the button only shows
// where a script runs. A file of its own: the CSP runs no inline script.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = button.getAttribute("data-copied") || label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
      } else {
        // Plain http (a local test, a LAN install): the clipboard API is not offered there.
        field.select();
        try { if (document.execCommand("copy")) { done(); } } catch (error) { /* selected: copy by hand */ }
      }
    });
  });
})();
