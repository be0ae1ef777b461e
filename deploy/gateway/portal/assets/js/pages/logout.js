import { request } from "../api.js";
import { clearSession, currentSession } from "../session.js";

// At import, before the header is drawn, so that it already shows the logged-out navigation.
const session = currentSession();
clearSession();

export async function start() {
  if (!session) return;
  try {
    await request("POST", "/api/auth/logout", { token: session.token });
  } catch {
    // the token is gone from this browser either way; an expired one needs no revoking
  }
}
