// Small, CSP-friendly glue for htmx: no inline handlers, no eval.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every unsafe htmx request carries the CSRF token in a header.
  document.addEventListener("htmx:configRequest", function (event) {
    var method = (event.detail.verb || "get").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
  });

  // A network failure (server down, connection dropped) is said in words, not silently ignored.
  document.addEventListener("htmx:sendError", function () {
    var alerts = document.getElementById("alerts");
    if (alerts) {
      alerts.innerHTML = '<div class="alert alert-error" role="alert">The server could not be reached. Check the connection and try again.</div>';
    }
  });

  // Selects marked data-autosubmit submit their form on change (the organization switcher).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var status = document.querySelector("[data-htmx-check]");
    if (status) {
      status.textContent = window.htmx ? "Interactive features ready (htmx " + window.htmx.version + ")." : "Interactive features are unavailable; the pages still work without them.";
      status.setAttribute("data-htmx-loaded", window.htmx ? "true" : "false");
    }
  });
})();
