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

// Intake: small helpers for the step forms (no inline handlers, no eval).
(function () {
  "use strict";

  // A form marked data-reset-on-success empties itself once htmx has accepted what it sent
  // (the "add a symptom not in the list" box).
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) {
      form.reset();
    }
  });

  // Autosave state: "Saving…" from the moment a field of the step form changes until the autosave
  // that carried the latest change has answered (an answer to an older one does not count).
  var edits = 0;
  function showAutosave(state, text) {
    var status = document.getElementById("autosave-status");
    if (status) {
      var label = document.createElement("span");
      label.setAttribute("data-autosave", state);
      label.textContent = text;
      status.replaceChildren(label);
    }
  }
  function showSaving() {
    showAutosave("pending", "Saving…");
  }
  function noteEdit(event) {
    var form = event.target && event.target.form;
    if (form && form.id === "intake-form") {
      edits += 1;
      showSaving();
    }
  }
  document.addEventListener("input", noteEdit, true);
  document.addEventListener("change", noteEdit, true);
  document.addEventListener("htmx:configRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "autosave-status") {
      target.setAttribute("data-edits-sent", String(edits));
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "autosave-status" && target.getAttribute("data-edits-sent") !== String(edits)) {
      showSaving();
    }
  });

  // A dropped connection leaves the answers on the screen: say they are not saved yet (the next
  // change, or Next, sends them again).
  function autosaveFailed(event) {
    var target = event.detail.target;
    if (target && target.id === "autosave-status") {
      showAutosave("failed", "Not saved yet: the server could not be reached");
    }
  }
  document.addEventListener("htmx:sendError", autosaveFailed);
  document.addEventListener("htmx:responseError", autosaveFailed);

  // After a step is swapped in, move focus to where the person continues: the first field with a
  // problem, or the step's heading (so screen readers announce the new step).
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "intake-step") {
      return;
    }
    var step = document.getElementById("intake-step");
    var invalid = step && step.querySelector("[aria-invalid='true']");
    var heading = document.getElementById("intake-heading");
    if (invalid) {
      invalid.focus();
    } else if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  });
})();

// The navigation's menu button (narrow screens): it is shown only here, so without JavaScript the
// navigation stays open. It opens and closes the navigation; Escape closes it again and puts the
// focus back on the button.
(function () {
  "use strict";

  var button = document.querySelector("[data-menu-button]");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!button || !menu) {
    return;
  }
  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || button.getAttribute("aria-expanded") !== "true") {
      return;
    }
    var active = document.activeElement;
    if (active === button || menu.contains(active)) {
      setOpen(false);
      button.focus();
    }
  });
})();
