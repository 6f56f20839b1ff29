// The console's only door to the service. The access token lives in this module's memory
// and nowhere else; the refresh token is an HttpOnly cookie only /console/session sees.
const SESSION = "/console/session";
const API = "/api/v1";
const GUARD = { "X-Authsvc-Console": "1" };
const EARLY = 30_000; // refresh this long before the access token expires

let access = null; // { token, expiresAt }
let refreshing = null;
let reauth = null;

export class ApiError extends Error {
  constructor(status, body) {
    const errors = Array.isArray(body?.errors) && body.errors.length
      ? body.errors
      : [{ code: status ? "server_error" : "network", attr: null, extra: null,
           detail: status ? "The service answered with an error. Try again."
                          : "The service could not be reached. Check your connection and try again." }];
    super(errors[0].detail);
    this.status = status;
    this.errors = errors;
  }
  get code() { return this.errors[0].code; }
  get reason() { return this.errors[0].extra?.reason ?? null; }
}

/** Called with no arguments when the session is gone; resolves once signed in again. */
export function onSessionLost(handler) { reauth = handler; }

export function signedIn() { return access !== null; }

async function send(url, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers },
                 credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function keep(pair) {
  access = { token: pair.access_token, expiresAt: Date.now() + pair.expires_in * 1000 };
}

/** Sign in through the cookie adapter; errors (mfa_required, invalid_totp...) are the API's. */
export async function login(email, password, totpCode) {
  const body = { email, password };
  if (totpCode) body.totp_code = totpCode;
  keep(await send(`${SESSION}/login`, { method: "POST", body, headers: GUARD }));
}

/** Trade the cookie for a fresh access token; one at a time across every open tab. */
export function refresh() {
  if (!refreshing) {
    const run = async () => {
      try {
        keep(await send(`${SESSION}/refresh`, { method: "POST", headers: GUARD }));
        return true;
      } catch (error) {
        if (error.status === 401) { access = null; return false; }
        throw error;
      }
    };
    const locked = navigator.locks
      ? navigator.locks.request("authsvc-console-refresh", run)
      : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function logout() {
  const headers = { ...GUARD };
  if (access) headers.Authorization = `Bearer ${access.token}`;
  access = null;
  try {
    await send(`${SESSION}/logout`, { method: "POST", headers });
  } catch {
    // The cookie is cleared even when the session was already gone.
  }
}

/** Forget the in-memory token without telling the server (after "sign out everywhere"). */
export async function forget() {
  access = null;
  await send(`${SESSION}/logout`, { method: "POST", headers: GUARD }).catch(() => {});
}

const lost = (error) => error.status === 401
  && (error.code === "invalid_token" || error.code === "not_authenticated");

/**
 * Call the JSON API. A missing or rejected access token is refreshed once; if the session
 * itself is gone, the sign-in dialog is shown and the same call is made again afterwards,
 * so whatever the user typed is sent as it was.
 */
export async function api(path, { method = "GET", body } = {}) {
  if (!access || access.expiresAt - Date.now() < EARLY) await refresh();
  for (let attempt = 0; ; attempt++) {
    const headers = access ? { Authorization: `Bearer ${access.token}` } : {};
    try {
      return await send(`${API}${path}`, { method, body, headers });
    } catch (error) {
      if (!lost(error) || attempt > 2) throw error;
      if (attempt === 0 && await refresh()) continue;
      if (!reauth) throw error;
      await reauth();
    }
  }
}
