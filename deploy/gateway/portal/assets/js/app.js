// Every page: loads the language, draws the header (navigation and language switch) and the
// footer, translates the markup, then starts the page's own module (pages/<data-page>.js).

import * as i18n from "./i18n.js";
import { currentSession } from "./session.js";

function link(href, key) {
  const anchor = document.createElement("a");
  anchor.href = href;
  anchor.dataset.i18n = key;
  if (location.pathname === href) anchor.setAttribute("aria-current", "page");
  return anchor;
}

function languageSwitch() {
  const group = document.createElement("div");
  group.className = "language-switch";
  group.setAttribute("role", "group");
  group.dataset.i18nAttr = "aria-label:common.language";
  for (const [code, name] of Object.entries(i18n.LANGUAGES)) {
    const button = document.createElement("button");
    button.type = "button";
    button.lang = code;
    button.dataset.language = code;
    button.textContent = name;
    button.addEventListener("click", async () => {
      await i18n.setLanguage(code);
      markLanguage();
    });
    group.append(button);
  }
  return group;
}

function markLanguage() {
  for (const button of document.querySelectorAll("[data-language]")) {
    button.setAttribute("aria-pressed", String(button.dataset.language === i18n.language()));
  }
}

function drawHeader() {
  const header = document.querySelector("header.site-header");
  const bar = document.createElement("div");
  bar.className = "bar";
  const brand = link("/", "common.service_name");
  brand.className = "brand";
  brand.removeAttribute("aria-current");
  bar.append(brand, languageSwitch());

  const nav = document.createElement("nav");
  nav.dataset.i18nAttr = "aria-label:common.main_navigation";
  const list = document.createElement("ul");
  const items = currentSession()
    ? [["/results", "common.nav_results"], ["/verify", "common.nav_verify"], ["/logout", "common.nav_logout"]]
    : [["/login", "common.nav_login"], ["/register", "common.nav_register"], ["/verify", "common.nav_verify"]];
  for (const [href, key] of items) {
    const item = document.createElement("li");
    item.append(link(href, key));
    list.append(item);
  }
  nav.append(list);
  header.replaceChildren(bar, nav);

  const footer = document.querySelector("footer.site-footer");
  if (footer) {
    const text = document.createElement("p");
    text.dataset.i18n = "common.footer";
    footer.replaceChildren(text);
  }
}

async function main() {
  const page = document.body.dataset.page;
  const [pageModule] = await Promise.all([import(`./pages/${page}.js`), i18n.load(i18n.preferredLanguage())]);
  drawHeader();
  i18n.apply();
  markLanguage();
  document.documentElement.classList.remove("loading");
  if (pageModule.start) await pageModule.start();
  document.documentElement.dataset.ready = "true"; // for tests and tools: the page has drawn itself
}

main().catch((error) => {
  document.documentElement.classList.remove("loading");
  console.error(error);
});
