// The report review page: transcript search, the autosave state of each section, and a guard that
// keeps the sign form from being sent while an edit is still on its way. No inline handlers, no eval.
(function () {
  "use strict";

  // --- transcript search: hide the passages that do not contain every word typed ---------------
  function filterTranscript(input) {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var segments = document.querySelectorAll("[data-transcript-segment]");
    var shown = 0;
    segments.forEach(function (segment) {
      var text = segment.textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      segment.hidden = !match;
      segment.classList.toggle("transcript-hit", match && words.length > 0);
      if (match) { shown += 1; }
    });
    var count = document.querySelector("[data-transcript-count]");
    if (count) {
      var total = count.getAttribute("data-total");
      count.textContent = words.length ? shown + " of " + total + " passages match" : total + " passages";
    }
    var none = document.querySelector("[data-transcript-none]");
    if (none) { none.hidden = shown > 0; }
  }
  document.addEventListener("input", function (event) {
    if (event.target && event.target.matches && event.target.matches("[data-transcript-search]")) {
      filterTranscript(event.target);
    }
  });

  // --- autosave state per section ----------------------------------------------------------------
  // "Saving…" from the first keystroke until the save carrying the latest keystroke has answered.
  function statusOf(form) { return form.querySelector(".save-status"); }
  function show(form, state, text) {
    var status = statusOf(form);
    if (!status) { return; }
    var label = document.createElement("span");
    label.setAttribute("data-save-state", state);
    label.textContent = text;
    status.replaceChildren(label);
  }
  function edits(form) { return parseInt(form.getAttribute("data-edits") || "0", 10); }
  document.addEventListener("input", function (event) {
    var form = event.target && event.target.closest && event.target.closest("form[data-section-form]");
    if (form) {
      form.setAttribute("data-edits", String(edits(form) + 1));
      show(form, "pending", "Saving…");
    }
  });
  // The section form an htmx event is about (the form itself, or the status inside it).
  function sectionFormOf(event) {
    var element = event.detail.elt || event.detail.target;
    return element && element.closest ? element.closest("form[data-section-form]") : null;
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var form = sectionFormOf(event);
    if (form) {
      form.setAttribute("data-edits-sent", String(edits(form)));
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var form = sectionFormOf(event);
    if (form && form.getAttribute("data-edits-sent") !== String(edits(form)) &&
        !form.querySelector("[data-save-state='conflict']")) {
      show(form, "pending", "Saving…");
    }
  });
  function saveFailed(event) {
    var form = sectionFormOf(event);
    if (form) {
      show(form, "failed", "Not saved yet: the server could not be reached");
    }
  }
  document.addEventListener("htmx:sendError", saveFailed);

  function unsaved() {
    return Array.prototype.filter.call(document.querySelectorAll("form[data-section-form]"), function (form) {
      var state = form.querySelector("[data-save-state]");
      var value = state && state.getAttribute("data-save-state");
      return value === "pending" || value === "failed";
    });
  }

  // --- signing waits for the last save -----------------------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("form[data-sign-form]")) { return; }
    var pending = unsaved();
    var warning = form.querySelector("[data-unsaved-warning]");
    if (pending.length) {
      event.preventDefault();
      if (warning) { warning.hidden = false; }
      pending.forEach(function (sectionForm) {
        if (window.htmx) { window.htmx.trigger(sectionForm, "submit"); }
      });
    } else if (warning) {
      warning.hidden = true;
    }
  }, true);
})();
