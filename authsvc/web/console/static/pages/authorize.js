// @ts-check
// The OAuth consent page. The authorize endpoint checked the app's request and sealed it
// into `?request=`; this page signs the user in (the console's own sign-in, second factor
// included), shows the app and the scopes in words, and sends Allow or Deny to
// POST /api/v1/auth/oauth2/consent with the in-memory access token. The server answers
// where the browser goes next: the app's redirect URI with a code (or an error), and iss.
import { api, logout, refresh, signedIn } from "../api.js";
import { find } from "../dom.js";
import { showMessage } from "../forms.js";
/** @import { ConsentView, Redirect } from "../api.js" */
/** @import { Context } from "../app.js" */

const CONSENT = "/auth/oauth2/consent";

/** @typedef {{ error_description?: string, errors?: { detail: string }[] }} Refusal */

/** A refused anonymous answer, with the body the service sent (OAuth error or envelope). */
class ConsentError extends Error {
  /**
   * @param {string} message
   * @param {Refusal | null} data
   */
  constructor(message, data) {
    super(message);
    this.data = data;
  }
}

/**
 * Send the user's decision; anonymous for the answers that need no session.
 * @param {{ request: string, decision: string }} body
 * @param {{ anonymous?: boolean }} [options]
 * @returns {Promise<Redirect>}
 */
async function post(body, { anonymous = false } = {}) {
  if (!anonymous) return /** @type {Redirect} */ (await api(CONSENT, { method: "POST", body }));
  const response = await fetch(`/api/v1${CONSENT}`, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  /** @type {(Refusal & Redirect) | null} */
  const data = await response.json().catch(() => null);
  if (!response.ok || !data) {
    throw new ConsentError(data?.error_description ?? data?.errors?.[0]?.detail ?? "The request failed.", data);
  }
  return data;
}

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { loadMe }) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const params = new URLSearchParams(location.search);
  const sealed = params.get("request");
  const prompt = params.get("prompt");
  const error = $("#consent-error");
  /** @param {unknown} e */
  const fail = (e) => {
    $("#consent-loading").hidden = true;
    const described = e instanceof ConsentError ? e.data?.error_description : undefined;
    showMessage(error, described ?? (e instanceof Error ? e.message : undefined) ?? "This request cannot be answered.");
  };
  if (!sealed) { fail(new Error("This page is reached from an app's sign-in link.")); return; }
  /** @param {Redirect} answer */
  const go = (answer) => { location.assign(answer.redirect_to); };

  let session = signedIn() || await refresh().catch(() => false);
  if (session && prompt === "login" && !params.has("fresh")) {
    // The app asked for a fresh sign-in: end this console session and sign in again.
    await logout();
    session = false;
    params.set("fresh", "1");
  }
  if (!session) {
    if (prompt === "none") {
      try { go(await post({ request: sealed, decision: "login_required" }, { anonymous: true })); } catch (e) { fail(e); }
      return;
    }
    const next = `/console/authorize?${params.toString()}`;
    location.replace(`/console/signin?next=${encodeURIComponent(next)}`);
    return;
  }
  let me;
  let view;
  try {
    me = await loadMe();
    view = /** @type {ConsentView} */ (await api(`${CONSENT}?request=${encodeURIComponent(sealed)}`));
  } catch (e) { fail(e); return; }
  if (view.skip || prompt === "none") {
    try { go(await post({ request: sealed, decision: "allow" })); } catch (e) { fail(e); }
    return;
  }
  $("#consent-loading").hidden = true;
  $("#consent-body").hidden = false;
  $("#consent-app").textContent = view.client.name;
  $("#consent-app-2").textContent = view.client.name;
  $("#consent-host").textContent = view.client.redirect_host;
  $("#consent-who").textContent = me.email;
  const list = $("#consent-scopes");
  list.replaceChildren(...view.scopes.map((s) => {
    const li = document.createElement("li");
    const name = document.createElement("code");
    name.textContent = s.name;
    li.append(s.description, " ", name);
    return li;
  }));
  /** @param {"allow" | "deny"} decision */
  const answer = (decision) => async () => {
    for (const b of main.querySelectorAll("button")) b.disabled = true;
    try { go(await post({ request: sealed, decision })); } catch (e) {
      for (const b of main.querySelectorAll("button")) b.disabled = false;
      fail(e);
    }
  };
  $("#consent-allow").addEventListener("click", answer("allow"));
  $("#consent-deny").addEventListener("click", answer("deny"));
}
