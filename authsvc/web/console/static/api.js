// @ts-check
// The console's only door to the service. The access token lives in this module's memory
// and nowhere else; the refresh token is an HttpOnly cookie only /console/session sees.
const SESSION = "/console/session";
const API = "/api/v1";
const GUARD = { "X-Authsvc-Console": "1" };
const EARLY = 30_000; // refresh this long before the access token expires

// --- the JSON the service answers (API.md) -------------------------------------------------

/**
 * @typedef {object} Problem One entry of the error envelope's `errors`.
 * @property {string} code
 * @property {string} detail
 * @property {string | null} attr the field at fault, dotted for nested ones
 * @property {ProblemExtra | null} extra
 */
/**
 * @typedef {object} ProblemExtra
 * @property {string} [reason] why an `invalid_token` was refused
 * @property {number} [retry_after]
 * @property {string[]} [scopes]
 */
/** @typedef {{ type?: string, errors: Problem[] }} Envelope */
/** @typedef {{ access_token: string, token_type: string, expires_in: number }} TokenPair */
/**
 * @typedef {object} Me GET /users/me
 * @property {string} id
 * @property {string} email
 * @property {string[]} scopes
 * @property {boolean} is_admin
 * @property {boolean} totp_enabled
 * @property {string} created_at
 */
/**
 * @typedef {object} PrivateToken an API key; `token` only in the answer that made it
 * @property {string} id
 * @property {string} name
 * @property {string | null} description
 * @property {string} [token]
 * @property {string[]} scopes
 * @property {string} created_at
 * @property {string} expires_at
 * @property {string | null} last_used_at
 * @property {"active" | "expired" | "revoked"} status
 * @property {string | null} rotated_to the id of the key this one was rotated to
 * @property {string[] | null} [allowed_ips] addresses and ranges it may be used from; null: any
 * @property {string | null} [rate_limit] e.g. "1000/hour"; null: none
 * @property {string | null} [last_used_ip]
 */
/**
 * @typedef {object} KeyRules GET /private-tokens/settings
 * @property {string[]} base_scopes in every key (of those its holder has), locked in the form
 * @property {Record<string, string>} scope_descriptions what each scope grants, in one line
 * @property {number} max_days
 * @property {number} name_max_length
 * @property {number} description_max_length
 */
/** @typedef {{ enabled: boolean, recovery_codes_left: number | null }} TotpStatus */
/**
 * @typedef {object} Session
 * @property {string} id
 * @property {string} created_at
 * @property {string | null} last_used_at
 * @property {string | null} user_agent
 * @property {string | null} ip
 * @property {boolean} current
 */
/** @typedef {{ secret: string, otpauth_uri: string, qr_svg: string }} TotpSetup */
/** @typedef {{ recovery_codes: string[] }} RecoveryCodes */
/** @typedef {{ name: string, description: string }} ScopeWords */
/**
 * @typedef {object} Consent an OAuth app the user allowed
 * @property {string} client_id
 * @property {string} name
 * @property {string} granted_at
 * @property {ScopeWords[]} scopes
 */
/**
 * @typedef {object} OAuthClient
 * @property {string} client_id
 * @property {string} name
 * @property {string[]} redirect_uris
 * @property {string[]} grant_types
 * @property {string} token_endpoint_auth_method
 * @property {string[]} scopes
 * @property {string[]} audiences
 * @property {boolean} confidential
 * @property {string | null} [client_secret] in the answers to create and rotate-secret only
 */
/**
 * @typedef {object} ConsentView what the consent page shows
 * @property {{ client_id: string, name: string, redirect_host: string }} client
 * @property {ScopeWords[]} scopes
 * @property {boolean} remembered
 * @property {string | null} prompt
 * @property {boolean} skip
 */
/** @typedef {{ redirect_to: string }} Redirect */
/**
 * @template T
 * @typedef {{ items: T[] }} Page a list answer
 */

/** @type {{ token: string, expiresAt: number } | null} */
let access = null;
/** @type {Promise<boolean> | null} */
let refreshing = null;
/** @type {(() => Promise<void>) | null} */
let reauth = null;
/** Counts sign-outs: a call begun before one ends with it, not with "sign in again". */
let signOuts = 0;
/** Signed out by the user, not signed in since: a call made now fails, it asks nothing. */
let signedOut = false;

/**
 * @param {unknown} body
 * @returns {body is Envelope}
 */
function isEnvelope(body) {
  return typeof body === "object" && body !== null && "errors" in body && Array.isArray(body.errors);
}

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the service could not be reached
   * @param {unknown} body the answer's JSON, if any
   */
  constructor(status, body) {
    /** @type {Problem[]} */
    const errors = isEnvelope(body) && body.errors.length
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

/** A call refused because the user signed out while, or before, it ran: the page that
 * made it is being left, so nothing should show it. */
export class SignedOutError extends ApiError {}

/**
 * Called with no arguments when the session is gone; resolves once signed in again.
 * @param {() => Promise<void>} handler
 */
export function onSessionLost(handler) { reauth = handler; }

/** @returns {boolean} */
export function signedIn() { return access !== null; }

/**
 * @param {string} url
 * @param {{ method?: string, body?: unknown, headers?: Record<string, string> }} [options]
 * @returns {Promise<unknown>} the answer's JSON, null for 204
 */
async function send(url, { method = "GET", body, headers = {} } = {}) {
  /** @type {Record<string, string>} */
  const sent = { Accept: "application/json", ...headers };
  /** @type {RequestInit} */
  const init = { method, headers: sent, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    sent["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  /** @type {unknown} */
  let data;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** @param {TokenPair} pair */
function keep(pair) {
  access = { token: pair.access_token, expiresAt: Date.now() + pair.expires_in * 1000 };
}

/**
 * Sign in through the cookie adapter; errors (mfa_required, invalid_totp...) are the API's.
 * @param {string} email
 * @param {string} password
 * @param {string | null} totpCode
 * @returns {Promise<void>}
 */
export async function login(email, password, totpCode) {
  /** @type {{ email: string, password: string, totp_code?: string }} */
  const body = { email, password };
  if (totpCode) body.totp_code = totpCode;
  keep(/** @type {TokenPair} */ (await send(`${SESSION}/login`, { method: "POST", body, headers: GUARD })));
  signedOut = false;
}

/**
 * Trade the cookie for a fresh access token; one at a time across every open tab.
 * The Web Lock saves requests, nothing more: two tabs refreshing with one cookie within
 * the service's reuse window both get the same successor, so neither signs the user out.
 * @returns {Promise<boolean>} false when the session is gone
 */
export function refresh() {
  if (!refreshing) {
    const run = async () => {
      try {
        const pair = /** @type {TokenPair | null} */ (await send(`${SESSION}/refresh`, { method: "POST", headers: GUARD }));
        if (!pair) { access = null; return false; } // 204: no session cookie, nothing to refresh
        keep(pair);
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) { access = null; return false; }
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

/** @returns {Promise<void>} */
export async function logout() {
  /** @type {Record<string, string>} */
  const headers = { ...GUARD };
  if (access) headers.Authorization = `Bearer ${access.token}`;
  access = null;
  signOuts++;
  signedOut = true;
  try {
    await send(`${SESSION}/logout`, { method: "POST", headers });
  } catch {
    // The cookie is cleared even when the session was already gone.
  }
}

/**
 * Forget the in-memory token without telling the server (after "sign out everywhere").
 * @returns {Promise<void>}
 */
export async function forget() {
  access = null;
  signOuts++;
  signedOut = true;
  await send(`${SESSION}/logout`, { method: "POST", headers: GUARD }).catch(() => {});
}

/**
 * @param {unknown} error
 * @returns {error is ApiError}
 */
const lost = (error) => error instanceof ApiError && error.status === 401
  && (error.code === "invalid_token" || error.code === "not_authenticated");

/**
 * Call the JSON API. A missing or rejected access token is refreshed once; if the session
 * itself is gone, the sign-in dialog is shown and the same call is made again afterwards,
 * so whatever the user typed is sent as it was. A call the user outlived by signing out,
 * or made after signing out (by a page being left), fails with its own error instead.
 * @param {string} path under /api/v1
 * @param {{ method?: string, body?: unknown }} [options]
 * @returns {Promise<unknown>} the answer's JSON (cast it to its typedef above), null for 204
 */
export async function api(path, { method = "GET", body } = {}) {
  const begun = signOuts;
  const outlived = () => begun !== signOuts || signedOut;
  if (!access || access.expiresAt - Date.now() < EARLY) await refresh();
  for (let attempt = 0; ; attempt++) {
    /** @type {Record<string, string>} */
    const headers = access ? { Authorization: `Bearer ${access.token}` } : {};
    try {
      return await send(`${API}${path}`, { method, body, headers });
    } catch (error) {
      if (!lost(error) || attempt > 2) throw error;
      if (outlived()) throw new SignedOutError(error.status, error);
      if (attempt === 0 && await refresh()) continue;
      if (outlived()) throw new SignedOutError(error.status, error);
      if (!reauth) throw error;
      await reauth();
    }
  }
}
