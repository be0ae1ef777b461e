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

/** Where to go after log-in: a path on this site only, never another site. */
export function safeNext(value, fallback = "/results") {
  return typeof value === "string" && /^\/(?![/\\])/.test(value) ? value : fallback;
}
