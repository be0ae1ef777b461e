// Errors shown in place: a summary at the top of the form (role="alert", focused, with a link to
// each field in error) and each field's own messages under its label, tied to the input with
// aria-describedby and aria-invalid. Kept as data so that a change of language shows them again.

import { t } from "./i18n.js";
import { problemMessage, ruleMessage } from "./messages.js";

export class FormErrors {
  /**
   * @param form the <form>
   * @param summary the error summary element (with a <ul>)
   * @param codeFields domain error code -> the field its message belongs beside
   * @param context which page's wording of a code to prefer (see messages.js)
   */
  constructor(form, summary, { codeFields = {}, context = null } = {}) {
    this.form = form;
    this.summary = summary;
    this.codeFields = codeFields;
    this.context = context;
    this.problem = null;
    this.local = null;
  }

  clear() {
    this.problem = null;
    this.local = null;
    this.render(false);
  }

  /** An API problem (ApiProblem). */
  show(problem) {
    this.problem = problem;
    this.local = null;
    this.render(true);
  }

  /** Checks made before calling the API: {field: catalogue key}. */
  showLocal(fieldKeys) {
    this.problem = null;
    this.local = fieldKeys;
    this.render(true);
  }

  rerender() {
    if (this.problem || this.local) this.render(false);
  }

  entries() {
    const fields = {};
    const general = [];
    if (this.local) {
      for (const [field, key] of Object.entries(this.local)) fields[field] = [t(key)];
    } else if (this.problem) {
      const problem = this.problem;
      if (problem.code === "validation_error") {
        for (const [field, rules] of Object.entries(problem.fieldErrors)) {
          const messages = rules.map((rule) => ruleMessage(field, rule));
          if (this.form.elements.namedItem(field)) fields[field] = messages;
          else general.push(...messages);
        }
        general.push(...problem.formErrors.map((rule) => ruleMessage("", rule)));
      } else {
        const field = this.codeFields[problem.code];
        const message = problemMessage(problem, this.context);
        if (field) fields[field] = [message];
        else general.push(message);
      }
    }
    return { fields, general };
  }

  render(focus) {
    const { fields, general } = this.entries();
    for (const element of this.form.querySelectorAll("[data-field]")) {
      const name = element.dataset.field;
      const input = this.form.elements.namedItem(name);
      const error = element.querySelector(".field-error");
      const messages = fields[name] || [];
      if (error) {
        error.replaceChildren();
        for (const message of messages) {
          const line = document.createElement("span");
          line.textContent = message;
          error.append(line);
        }
        error.hidden = messages.length === 0;
      }
      element.classList.toggle("has-error", messages.length > 0);
      if (input && input.setAttribute) {
        const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter((id) => id && id !== error?.id);
        if (messages.length && error) ids.unshift(error.id);
        if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
        else input.removeAttribute("aria-describedby");
        if (messages.length) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      }
    }
    const list = this.summary.querySelector("ul");
    list.replaceChildren();
    for (const message of general) {
      const item = document.createElement("li");
      item.textContent = message;
      list.append(item);
    }
    for (const [name, messages] of Object.entries(fields)) {
      const input = this.form.elements.namedItem(name);
      for (const message of messages) {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `#${input.id}`;
        link.textContent = message;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          input.focus();
        });
        item.append(link);
        list.append(item);
      }
    }
    this.summary.hidden = list.children.length === 0;
    if (focus && !this.summary.hidden) this.summary.focus();
  }
}

/** The form's values as the API wants them: checkboxes as booleans, the rest as strings. */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    if (element.type === "checkbox") values[element.name] = element.checked;
    else values[element.name] = element.value;
  }
  return values;
}

/** Runs `action` with the submit button disabled and marked busy. */
export async function submitting(form, action) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}
