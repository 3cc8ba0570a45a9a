// Passkeys (WebAuthn) without a library: works offline, no inline handlers, no eval.
//
// Any button with data-passkey-action="register" or "sign-in", data-options-url and
// data-finish-url (and, to name a new passkey, data-name-input="<selector>"):
//   1. POSTs to the options URL (with the CSRF header) and gets the options as JSON, their bytes
//      in base64url (challenge, user.id, excludeCredentials/allowCredentials ids);
//   2. asks the browser (navigator.credentials.create or .get);
//   3. POSTs {"credential": <the answer, bytes in base64url>, "name": ...} to the finish URL;
//   4. goes where the answer's "redirect" says.
// A refusal's words (problem+json "detail") go in the nearest [data-passkey-error] element.
// Without WebAuthn in the browser the buttons (and [data-passkey-support] parts) are hidden.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i += 1) {
      text += String.fromCharCode(bytes[i]);
    }
    return window.btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(value) {
    var base64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var text = window.atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i += 1) {
      bytes[i] = text.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = fromBase64url(item.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  function credentialJson(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return json;
  }

  function errorBox(button) {
    var selector = button.getAttribute("data-error-target");
    if (selector) {
      return document.querySelector(selector);
    }
    for (var node = button.parentElement; node; node = node.parentElement) {
      var found = node.querySelector("[data-passkey-error]");
      if (found) {
        return found;
      }
    }
    return null;
  }

  function showError(button, message) {
    var box = errorBox(button);
    if (!box) {
      return;
    }
    box.setAttribute("role", "alert");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function post(url, body) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken()
      },
      body: JSON.stringify(body || {})
    }).then(function (answer) {
      return answer.json().catch(function () {
        return {};
      }).then(function (data) {
        if (!answer.ok) {
          throw new Error(data.detail || "The server refused the passkey (" + answer.status + "). Please try again.");
        }
        return data;
      });
    });
  }

  function browserRefusal(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Please try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already holds a passkey for your account.";
    }
    return (error && error.message) || "The passkey could not be used. Please try again.";
  }

  // Go to the answer's page. Back to this very page with a #fragment would only scroll, so the
  // page is loaded again (to show the new passkey).
  function go(url) {
    var target = new URL(url, window.location.href);
    var here = window.location;
    if (target.origin === here.origin && target.pathname === here.pathname && target.search === here.search) {
      if (target.hash && target.hash !== here.hash) {
        window.history.replaceState(null, "", target.href);
      }
      here.reload();
      return;
    }
    here.assign(target.href);
  }

  function run(button) {
    var action = button.getAttribute("data-passkey-action");
    var nameSelector = button.getAttribute("data-name-input");
    var nameInput = nameSelector ? document.querySelector(nameSelector) : null;
    showError(button, "");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    post(button.getAttribute("data-options-url"))
      .then(function (options) {
        if (action === "register") {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        if (!credential) {
          throw new Error("No passkey was chosen.");
        }
        var body = { credential: credentialJson(credential) };
        if (nameInput) {
          body.name = nameInput.value;
        }
        return post(button.getAttribute("data-finish-url"), body);
      })
      .then(function (answer) {
        go(answer.redirect || "/");
      })
      .catch(function (error) {
        showError(button, browserRefusal(error));
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
  }

  function wire() {
    var buttons = document.querySelectorAll("[data-passkey-action]");
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    // Parts of a page that only make sense with passkeys (a name field) show with the buttons.
    var parts = document.querySelectorAll("[data-passkey-support]");
    for (var j = 0; j < parts.length; j += 1) {
      parts[j].hidden = !supported;
    }
    for (var i = 0; i < buttons.length; i += 1) {
      var button = buttons[i];
      if (!supported) {
        button.hidden = true;
        button.style.display = "none"; // a .button's own display would outdo [hidden]
        continue;
      }
      if (button.getAttribute("data-passkey-wired") === "true") {
        continue;
      }
      button.setAttribute("data-passkey-wired", "true");
      button.hidden = false;
      button.style.display = "";
      button.addEventListener("click", function (event) {
        event.preventDefault();
        run(event.currentTarget);
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
  // Buttons that arrive in an htmx swap are wired too.
  document.addEventListener("htmx:afterSettle", wire);
})();
