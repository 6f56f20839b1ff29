import { refresh } from "../api.js";
import { wireSignin } from "../signin.js";

const NOTICES = {
  session: "You signed out of this session.",
  everywhere: "You signed out everywhere.",
  out: "You signed out.",
};

export async function init(main, { navigate, loadMe }) {
  const params = new URLSearchParams(location.search);
  const next = params.get("next");
  main.querySelector("#signin-notice").textContent = NOTICES[params.get("signed_out")] ?? "";
  const target = safeTarget(next);
  const go = async () => { await loadMe(); await navigate(target, { replace: true }); };
  if (await refresh().catch(() => false)) { await go(); return; }
  const form = main.querySelector("#signin-form");
  wireSignin(form, go);
  // Never pull focus away from a field the user already went to while the page loaded.
  if (!main.contains(document.activeElement)) form.elements.email.focus();
}

function safeTarget(raw) {
  if (raw && raw.startsWith("/console/") && !raw.startsWith("//")
      && !raw.startsWith("/console/signin") && !raw.startsWith("/console/session/")) return raw;
  return "/console/keys";
}
