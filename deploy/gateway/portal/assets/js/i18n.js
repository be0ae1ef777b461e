// Text comes from one catalogue per language (/i18n/<lang>.json); the markup only names keys:
//   data-i18n="key"                       sets the element's text
//   data-i18n-attr="aria-label:key; ..."  sets attributes
// The choice is remembered in localStorage and applies on every page.

export const LANGUAGES = { en: "English", "zh-TW": "繁體中文" };
const STORAGE_KEY = "crs.language";
const FALLBACK = "en";

let current = FALLBACK;
const catalogues = {};
const listeners = [];

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function preferredLanguage() {
  const remembered = stored();
  if (remembered in LANGUAGES) return remembered;
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const lower = tag.toLowerCase();
    if (lower.startsWith("zh")) return "zh-TW"; // the only Chinese we have is Traditional
    if (lower.startsWith("en")) return "en";
  }
  return FALLBACK;
}

async function fetchCatalogue(lang) {
  if (!catalogues[lang]) {
    const response = await fetch(`/i18n/${lang}.json`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`catalogue ${lang}: HTTP ${response.status}`);
    catalogues[lang] = await response.json();
  }
  return catalogues[lang];
}

export async function load(lang) {
  const wanted = lang in LANGUAGES ? lang : FALLBACK;
  await Promise.all([fetchCatalogue(FALLBACK), fetchCatalogue(wanted)]);
  current = wanted;
  document.documentElement.lang = wanted;
}

export function language() {
  return current;
}

function lookup(catalogue, key) {
  return key.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), catalogue);
}

/** The text for `key` in the current language ({name} placeholders filled from params), or null. */
export function maybe(key, params = {}) {
  const text = lookup(catalogues[current] || {}, key);
  if (typeof text !== "string") return null;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The text for `key`: the current language, else English, else an empty string (never the key). */
export function t(key, params = {}) {
  const text = maybe(key, params);
  if (text !== null) return text;
  const english = lookup(catalogues[FALLBACK] || {}, key);
  if (typeof english === "string") {
    return english.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }
  console.warn(`missing text: ${key}`);
  return "";
}

export function apply(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":").map((part) => part.trim());
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
}

export function onChange(listener) {
  listeners.push(listener);
}

export async function setLanguage(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // private mode: the choice lasts for this page only
  }
  await load(lang);
  apply();
  for (const listener of listeners) listener(current);
}

/** "2026-06" as "June 2026" / "2026年6月". */
export function formatSession(session) {
  const match = /^(\d{4})-(\d{2})$/.exec(session || "");
  if (!match) return session || "";
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
  return new Intl.DateTimeFormat(current, { year: "numeric", month: "long", timeZone: "UTC" }).format(date);
}
