// What a person reads for an API error. The English portal shows the API's own message. In
// another language the catalogue's translation of that message (by its code, or for a 422 by the
// rule's type) is shown when it has one, else the API's message. A raw code is never shown.

import { language, maybe, t } from "./i18n.js";

// Refusals whose message counts the minutes to wait, from retry_after_seconds (or Retry-After),
// with the wait to assume when neither came.
const WAITS = { account_locked: 1800, too_many_attempts: 3600 };

export function problemMessage(problem, context = null) {
  if (Object.hasOwn(WAITS, problem.code)) {
    const minutes = Math.max(1, Math.ceil((problem.retryAfterSeconds || WAITS[problem.code]) / 60));
    return minutes === 1 ? t(`errors.${problem.code}_one`) : t(`errors.${problem.code}`, { minutes });
  }
  if (problem.code === "network") return t("errors.network");
  let translated = null;
  if (language() !== "en" && problem.code) {
    // A code can mean different things on different pages (invalid_token: a reset link, or a session).
    translated = (context && maybe(`errors.${context}.${problem.code}`)) || maybe(`errors.${problem.code}`);
  }
  return translated || problem.detail || t("errors.unexpected");
}

export function ruleMessage(field, rule) {
  if (language() !== "en") {
    const translated = maybe(`validation.${field}.${rule.type}`) || maybe(`validation.${rule.type}`);
    if (translated) return translated;
  }
  return rule.msg || t("errors.unexpected");
}
