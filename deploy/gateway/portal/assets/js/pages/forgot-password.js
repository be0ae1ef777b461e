import * as i18n from "../i18n.js";
import { request } from "../api.js";
import { FormErrors, formValues, submitting } from "../forms.js";

export function start() {
  const form = document.getElementById("forgot-form");
  const errors = new FormErrors(form, document.getElementById("error-summary"));
  const sent = document.getElementById("forgot-sent");
  let answer = null;
  const showSent = () => {
    // The API's own words in English; in Chinese the catalogue's, with the link's lifetime from them.
    const minutes = (/(\d+)\s*minutes?/.exec(answer.detail || "") || [])[1] || "60";
    sent.textContent = (i18n.language() !== "en" && i18n.maybe("forgot.sent", { minutes })) || answer.detail;
  };
  i18n.onChange(() => {
    errors.rerender();
    if (answer) showSent();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      try {
        answer = await request("POST", "/api/auth/password-reminder", { body: formValues(form) });
        errors.clear();
        showSent();
        sent.hidden = false;
        sent.focus();
      } catch (problem) {
        errors.show(problem);
      }
    });
  });
}
