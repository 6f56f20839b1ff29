// Boot: get an access token from the session cookie (or send the visitor to sign in),
// then run the page's module. Links inside the console swap <main> without a reload,
// so the in-memory token survives navigation and the refresh token is not rotated on
// every click.
import { api, logout, onSessionLost, refresh, signedIn } from "./api.js";
import { wireSignin } from "./signin.js";
import { open } from "./dialogs.js";

const BASE = "/console/";
const context = { me: null, navigate, loadMe, signOut };
let current = null; // the running page's teardown, if any

function pageName() { return document.querySelector("main")?.dataset.page; }

async function loadMe() {
  context.me = await api("/users/me");
  document.getElementById("who").textContent = context.me.email;
  return context.me;
}

function chrome() {
  const name = pageName();
  const inside = name !== "signin" && signedIn();
  document.getElementById("nav").hidden = !inside;
  document.getElementById("account").hidden = !inside;
  // Admin pages are linked only for administrators; the API refuses everyone else anyway.
  for (const item of document.querySelectorAll("[data-admin-only]")) item.hidden = !context.me?.is_admin;
  for (const link of document.querySelectorAll("[data-page-link]")) {
    if (link.dataset.pageLink === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function runPage({ focus = false } = {}) {
  current?.();
  current = null;
  const name = pageName();
  // A public page (the OAuth consent page) decides itself what to do without a session.
  const open = document.querySelector("main")?.hasAttribute("data-public");
  if (name !== "signin" && !open && !signedIn() && !(await refresh())) {
    location.replace(`${BASE}signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  if (name !== "signin" && !context.me && (signedIn() || !open)) await loadMe();
  chrome();
  const main = document.querySelector("main");
  const module = await import(`./pages/${name}.js`);
  current = (await module.init(main, context)) ?? null;
  armed(main);
  // After a swap, start keyboard and screen-reader users at the new page's heading.
  if (focus && main.isConnected && !main.contains(document.activeElement)) {
    const heading = main.querySelector("h1");
    heading?.setAttribute("tabindex", "-1");
    (heading ?? main).focus();
  }
}

/** Buttons that need a script start disabled, so nothing is submitted before it is wired. */
function armed(root) {
  for (const button of root.querySelectorAll("[data-needs-js]")) {
    button.disabled = false;
    button.removeAttribute("data-needs-js");
  }
}

/** Show another console page without reloading the document. */
export async function navigate(url, { push = true, replace = false } = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  } catch {
    location.assign(url);
    return;
  }
  if (!response.ok || !response.headers.get("Content-Type")?.startsWith("text/html")) {
    location.assign(url);
    return;
  }
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelector("main").replaceWith(document.adoptNode(doc.querySelector("main")));
  document.title = doc.title;
  if (replace) history.replaceState({}, "", url);
  else if (push) history.pushState({}, "", url);
  window.scrollTo(0, 0);
  await runPage({ focus: true });
}

async function signOut() {
  await logout();
  context.me = null;
  await navigate(`${BASE}signin?signed_out=out`);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0
      || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  event.preventDefault();
  if (url.pathname !== location.pathname) navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => { navigate(location.pathname + location.search, { push: false }); });

document.getElementById("sign-out").addEventListener("click", signOut);
armed(document.querySelector("header"));

// The "session ended" dialog: sign in again, then the interrupted call is made again.
const reauthDialog = document.getElementById("reauth-dialog");
let waiting = [];
const resetReauth = wireSignin(document.getElementById("reauth-form"), async (email) => {
  const sameUser = !context.me || context.me.email.toLowerCase() === email.toLowerCase();
  reauthDialog.close("signed-in");
  if (!sameUser) { location.assign(`${BASE}keys`); return; }
  const resolved = waiting;
  waiting = [];
  resolved.forEach(({ resolve }) => resolve());
});
reauthDialog.addEventListener("close", () => {
  if (reauthDialog.returnValue === "signed-in") return;
  const rejected = waiting;
  waiting = [];
  rejected.forEach(({ reject }) => reject(Object.assign(new Error("Sign in again to continue."), {
    errors: [{ code: "not_authenticated", attr: null,
               detail: "Your session has ended. Sign in again to continue." }],
  })));
});
armed(reauthDialog);
onSessionLost(() => new Promise((resolve, reject) => {
  waiting.push({ resolve, reject });
  if (!reauthDialog.open) {
    resetReauth();
    reauthDialog.returnValue = "";
    const form = document.getElementById("reauth-form");
    if (context.me) form.elements.email.value = context.me.email;
    open(reauthDialog);
    (context.me ? form.elements.password : form.elements.email).focus();
  }
}));

runPage().catch((error) => {
  const main = document.querySelector("main");
  const p = document.createElement("p");
  p.className = "form-error";
  p.setAttribute("role", "alert");
  p.textContent = error?.message ?? "The console could not start. Reload the page to try again.";
  main.prepend(p);
});
