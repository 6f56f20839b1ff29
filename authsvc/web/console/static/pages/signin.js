// @ts-check
import { refresh } from "../api.js";
import { field, find } from "../dom.js";
import { wireSignin } from "../signin.js";
/** @import { Context } from "../app.js" */

/** @type {Record<string, string>} */
const NOTICES = {
  session: "You signed out of this session.",
  everywhere: "You signed out everywhere.",
  out: "You signed out.",
};

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { navigate, loadMe }) {
  const params = new URLSearchParams(location.search);
  const next = params.get("next");
  find(main, "#signin-notice", HTMLElement).textContent = NOTICES[params.get("signed_out") ?? ""] ?? "";
  const target = safeTarget(next);
  const go = async () => { await loadMe(); await navigate(target, { replace: true }); };
  if (await refresh().catch(() => false)) { await go(); return; }
  const form = find(main, "#signin-form", HTMLFormElement);
  wireSignin(form, go);
  // Never pull focus away from a field the user already went to while the page loaded.
  if (!main.contains(document.activeElement)) field(form, "email", HTMLInputElement).focus();
}

/**
 * Where to go after signing in: `raw` when it is a console page, else the keys page.
 * @param {string | null} raw
 * @returns {string}
 */
function safeTarget(raw) {
  if (raw && raw.startsWith("/console/") && !raw.startsWith("//")
      && !raw.startsWith("/console/signin") && !raw.startsWith("/console/session/")) return raw;
  return "/console/keys";
}
