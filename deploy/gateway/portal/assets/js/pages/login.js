import * as i18n from "../i18n.js";
import { request } from "../api.js";
import { FormErrors, formValues, submitting } from "../forms.js";
import { saveSession, safeNext } from "../session.js";

export function start() {
  const params = new URLSearchParams(location.search);
  if (params.get("expired")) document.getElementById("session-ended").hidden = false;
  const form = document.getElementById("login-form");
  const errors = new FormErrors(form, document.getElementById("error-summary"));
  const lockedNext = document.getElementById("locked-next");
  i18n.onChange(() => errors.rerender());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const body = formValues(form);
      try {
        const answer = await request("POST", "/api/auth/login", { body });
        saveSession(answer, body.candidate_id.trim().toUpperCase());
        location.assign(safeNext(params.get("next")));
      } catch (problem) {
        form.elements.namedItem("password").value = "";
        lockedNext.hidden = problem.code !== "account_locked";
        errors.show(problem);
      }
    });
  });
}
