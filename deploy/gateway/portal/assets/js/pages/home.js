import { currentSession } from "../session.js";

export function start() {
  if (currentSession()) document.getElementById("home-results-link").href = "/results";
}
