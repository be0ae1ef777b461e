import * as i18n from "../i18n.js";
import { request } from "../api.js";
import { FormErrors, formValues, submitting } from "../forms.js";

export function start() {
  const form = document.getElementById("verify-form");
  const errors = new FormErrors(form, document.getElementById("error-summary"));
  const panel = document.getElementById("verify-result");
  let found = null;

  // The QR code on a statement links to /verify?number=...
  const number = new URLSearchParams(location.search).get("number");
  if (number) {
    form.elements.namedItem("verification_number").value = number;
    form.elements.namedItem("family_name").focus();
  }

  const show = () => {
    const none = i18n.t("results.none_value");
    document.getElementById("verify-name").textContent = found.name;
    document.getElementById("verify-exam").textContent = found.exam_name;
    document.getElementById("verify-session").textContent = i18n.formatSession(found.session);
    document.getElementById("verify-overall").textContent = String(found.overall_score);
    document.getElementById("verify-grade").textContent = found.grade || none;
    document.getElementById("verify-cefr").textContent = found.cefr_level || none;
    document.getElementById("verify-number").textContent = found.verification_number;
  };
  i18n.onChange(() => {
    errors.rerender();
    if (found) show();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    const verificationNumber = values.verification_number.trim();
    const familyName = values.family_name.trim();
    const missing = {};
    if (!verificationNumber) missing.verification_number = "verify.enter_number";
    if (!familyName) missing.family_name = "verify.enter_family_name";
    found = null;
    panel.hidden = true;
    if (Object.keys(missing).length) {
      errors.showLocal(missing);
      return;
    }
    submitting(form, async () => {
      try {
        const path = `/api/results/verify/${encodeURIComponent(verificationNumber)}` +
          `?family_name=${encodeURIComponent(familyName)}`;
        found = await request("GET", path);
        errors.clear();
        show();
        panel.hidden = false;
        panel.focus();
      } catch (problem) {
        errors.show(problem);
      }
    });
  });
}
