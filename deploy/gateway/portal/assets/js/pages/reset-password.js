import * as i18n from "../i18n.js";
import { request } from "../api.js";
import { FormErrors, formValues, submitting } from "../forms.js";
import { clearSession } from "../session.js";

const TOKEN_KEY = "crs.resetToken";

/** The token from the link; taken out of the address bar (and so out of history and bookmarks). */
function takeToken() {
  const params = new URLSearchParams(location.search);
  const fromLink = params.get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(null, "", location.pathname);
    return fromLink;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function start() {
  const token = takeToken();
  const area = document.getElementById("reset-area");
  if (!token) {
    area.hidden = true;
    document.getElementById("reset-missing").hidden = false;
    return;
  }
  const form = document.getElementById("reset-form");
  const errors = new FormErrors(form, document.getElementById("error-summary"), { context: "reset" });
  const newLink = document.getElementById("reset-new-link");
  i18n.onChange(() => errors.rerender());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const values = formValues(form);
      try {
        await request("POST", "/api/auth/password-reset", {
          body: { token, password: values.password, password_confirm: values.password_confirm },
        });
        sessionStorage.removeItem(TOKEN_KEY);
        clearSession(); // every earlier access token has just been revoked
        area.hidden = true;
        const done = document.getElementById("reset-done");
        done.hidden = false;
        done.focus();
      } catch (problem) {
        if (problem.code === "invalid_token") sessionStorage.removeItem(TOKEN_KEY);
        newLink.hidden = problem.code !== "invalid_token";
        errors.show(problem);
      }
    });
  });
}
