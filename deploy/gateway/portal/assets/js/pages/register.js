import * as i18n from "../i18n.js";
import { request } from "../api.js";
import { FormErrors, formValues, submitting } from "../forms.js";

export function start() {
  const form = document.getElementById("register-form");
  const errors = new FormErrors(form, document.getElementById("error-summary"), {
    codeFields: { id_secret_mismatch: "candidate_id", already_registered: "candidate_id",
                  too_many_attempts: "candidate_id" },
  });

  // The language of the candidate's emails starts as the language of the page, until they pick one.
  const select = form.elements.namedItem("language");
  for (const [code, name] of Object.entries(i18n.LANGUAGES)) {
    const option = new Option(name, code);
    option.lang = code;
    select.append(option);
  }
  select.value = i18n.language();
  let chosen = false;
  select.addEventListener("change", () => { chosen = true; });

  let registeredEmail = null;
  const done = document.getElementById("register-done");
  const showDone = () => {
    document.getElementById("register-done-text").textContent = i18n.t("register.done_text", { email: registeredEmail });
  };
  i18n.onChange((language) => {
    if (!chosen) select.value = language;
    errors.rerender();
    if (registeredEmail) showDone();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const body = formValues(form);
      try {
        const answer = await request("POST", "/api/registration/candidates", { body });
        errors.clear();
        registeredEmail = answer.email;
        showDone();
        document.getElementById("register-area").hidden = true;
        done.hidden = false;
        done.focus();
      } catch (problem) {
        errors.show(problem);
      }
    });
  });
}
