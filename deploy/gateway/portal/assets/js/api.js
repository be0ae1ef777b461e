// Calls to the APIs behind the gateway, and their errors as one shape the pages can show:
// { status, code, detail, fieldErrors: {field: [{type, msg}]}, formErrors: [{type, msg}], retryAfterSeconds }

export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail || problem.code || "error");
    Object.assign(this, problem);
  }
}

async function readBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function problemFrom(status, body, response) {
  const problem = { status, code: null, detail: null, fieldErrors: {}, formErrors: [], retryAfterSeconds: null };
  if (body && Array.isArray(body.detail)) {
    // FastAPI's 422: one entry per failing rule; loc ends with the field's name.
    problem.code = "validation_error";
    for (const entry of body.detail) {
      const loc = Array.isArray(entry.loc) ? entry.loc : [];
      const field = loc.length > 1 ? String(loc[loc.length - 1]) : null;
      const item = { type: entry.type, msg: entry.msg };
      if (field) (problem.fieldErrors[field] ||= []).push(item);
      else problem.formErrors.push(item);
    }
  } else if (body && typeof body === "object") {
    problem.code = body.code || null;
    problem.detail = typeof body.detail === "string" ? body.detail : null;
    if (Number.isFinite(body.retry_after_seconds)) problem.retryAfterSeconds = body.retry_after_seconds;
  }
  if (problem.retryAfterSeconds === null && response) {
    const header = Number(response.headers.get("Retry-After"));
    if (Number.isFinite(header) && header > 0) problem.retryAfterSeconds = header;
  }
  return problem;
}

/** JSON in, JSON out. Resolves with the parsed body (null for 204); throws ApiProblem otherwise. */
export async function request(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiProblem({ status: 0, code: "network", detail: null, fieldErrors: {}, formErrors: [] });
  }
  const parsed = response.status === 204 ? null : await readBody(response);
  if (!response.ok) throw new ApiProblem(problemFrom(response.status, parsed, response));
  return parsed;
}

/** A file behind a bearer token, as a Blob, with the file name the server gave it. */
export async function download(path, token) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch {
    throw new ApiProblem({ status: 0, code: "network", detail: null, fieldErrors: {}, formErrors: [] });
  }
  if (!response.ok) throw new ApiProblem(problemFrom(response.status, await readBody(response), response));
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : null };
}
