import * as i18n from "../i18n.js";
import { download, request } from "../api.js";
import { problemMessage } from "../messages.js";
import { clearSession, currentSession } from "../session.js";

const SKILLS = ["reading", "writing", "listening", "speaking", "use_of_english"];

function element(tag, { text, className, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function backToLogin() {
  clearSession();
  location.assign("/login?expired=1&next=/results");
}

export async function start() {
  const session = currentSession();
  if (!session) {
    location.replace("/login?next=/results");
    return;
  }
  const summary = document.getElementById("error-summary");
  const list = document.getElementById("results-list");
  const status = document.getElementById("download-status");
  let data = null;
  let problem = null;

  const showProblem = () => {
    const items = summary.querySelector("ul");
    items.replaceChildren();
    if (problem) items.append(element("li", { text: problemMessage(problem) }));
    summary.hidden = !problem;
  };

  async function saveStatement(result, button) {
    button.disabled = true;
    status.textContent = i18n.t("results.downloading");
    try {
      const { blob, filename } = await download(`/api/results/me/${encodeURIComponent(result.result_id)}/statement.pdf`,
        session.token);
      const url = URL.createObjectURL(blob);
      const anchor = element("a", { attrs: { href: url, download: filename || `statement-of-results-${result.exam}-${result.session}.pdf` } });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      status.textContent = i18n.t("results.downloaded");
      problem = null;
    } catch (error) {
      if (error.status === 401) return backToLogin();
      status.textContent = "";
      problem = error;
    } finally {
      button.disabled = false;
      showProblem();
      if (problem) summary.focus();
    }
  }

  function resultCard(result) {
    const card = element("article", { className: "result card", attrs: { "aria-labelledby": `exam-${result.result_id}` } });
    card.dataset.resultId = result.result_id;
    card.append(element("h2", { text: `${result.exam_name} – ${i18n.formatSession(result.session)}`,
                                attrs: { id: `exam-${result.result_id}` } }));
    if (result.status !== "issued") {
      card.append(element("p", { className: "panel info", text: i18n.t(`results.status_${result.status}`) || result.status }));
      return card;
    }
    const table = element("table", { className: "scores" });
    table.append(element("caption", { text: i18n.t("results.scores_caption") }));
    const head = element("tr", {}, element("th", { text: i18n.t("results.skill"), attrs: { scope: "col" } }),
                         element("th", { text: i18n.t("results.score"), attrs: { scope: "col" } }));
    table.append(element("thead", {}, head));
    const body = element("tbody");
    for (const skill of SKILLS) {
      if (result.skills[skill] === undefined || result.skills[skill] === null) continue;
      body.append(element("tr", {}, element("th", { text: i18n.t(`skills.${skill}`), attrs: { scope: "row" } }),
                          element("td", { text: String(result.skills[skill]) })));
    }
    body.append(element("tr", { className: "overall" },
                        element("th", { text: i18n.t("results.overall_score"), attrs: { scope: "row" } }),
                        element("td", { text: String(result.overall_score) })));
    table.append(body);
    card.append(table);

    const none = i18n.t("results.none_value");
    const facts = element("dl", { className: "facts" },
      element("dt", { text: i18n.t("results.grade") }), element("dd", { text: result.grade || none, className: "grade" }),
      element("dt", { text: i18n.t("results.cefr_level") }), element("dd", { text: result.cefr_level || none, className: "cefr" }),
      element("dt", { text: i18n.t("results.verification_number") }),
      element("dd", { text: result.verification_number || none, className: "verification-number" }));
    card.append(facts);
    card.append(element("p", { className: "hint", text: i18n.t("results.verification_hint") }));
    const button = element("button", { text: i18n.t("results.download"), className: "button download",
                                       attrs: { type: "button" } });
    button.addEventListener("click", () => saveStatement(result, button));
    card.append(button);
    return card;
  }

  function render() {
    document.getElementById("results-loading").hidden = data !== null || problem !== null;
    showProblem();
    if (!data) return;
    document.getElementById("candidate-line").textContent = i18n.t("results.candidate", { candidate_id: data.candidate_id });
    document.getElementById("results-none").hidden = data.results.length > 0;
    list.replaceChildren(...data.results.map(resultCard));
  }
  i18n.onChange(render);

  try {
    data = await request("GET", "/api/results/me", { token: session.token });
  } catch (error) {
    if (error.status === 401) return backToLogin();
    problem = error;
  }
  render();
}
