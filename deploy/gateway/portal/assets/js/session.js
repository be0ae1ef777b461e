// The access token lives in sessionStorage (this tab only, gone when it closes) and is removed at
// log-out. There is no refresh token: when it expires the candidate logs in again.

const KEY = "crs.session";

export function saveSession(answer, candidateId) {
  const expiresAt = Date.now() + Number(answer.expires_in || 0) * 1000;
  sessionStorage.setItem(KEY, JSON.stringify({ token: answer.access_token, expiresAt, candidateId }));
}

export function currentSession() {
  let session = null;
  try {
    session = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    session = null;
  }
  if (!session || !session.token) return null;
  if (session.expiresAt && Date.now() >= session.expiresAt) {
    clearSession();
    return null;
  }
  return session;
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** Where to go after log-in: a page of this site only, never another site. `next` is resolved
 * as the browser itself reads a URL and judged by its origin, not by its spelling: the browser
 * drops tabs and newlines and reads a backslash as "/", so "/<tab>/evil.com" and "/\evil.com"
 * look like paths but lead to //evil.com. The answer is the whole resolved URL, never its path
 * alone: "/.//evil.com" resolves on this origin to the path "//evil.com", which, given back on
 * its own, is a URL of another site. Such a path is no page of the portal either: it goes to the
 * fallback, as every other `next` that meant to lead away does. */
export function safeNext(value, fallback = "/results") {
  if (typeof value !== "string" || !value) return fallback;
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== location.origin || url.pathname.startsWith("//")) return fallback;
  return url.href;
}
