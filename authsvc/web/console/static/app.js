// @ts-check
// Boot: get an access token from the session cookie (or send the visitor to sign in),
// then run the page's module. Links inside the console swap <main> without a reload,
// so the in-memory token survives navigation and the refresh token is not rotated on
// every click.
import { SignedOutError, api, logout, onSessionLost, refresh, signedIn } from "./api.js";
import { wireSignin } from "./signin.js";
import { open } from "./dialogs.js";
import { field, find, findAll } from "./dom.js";
/** @import { Me } from "./api.js" */

/**
 * What every page module gets: the signed-in user (null on the sign-in page, and on the
 * consent page before sign-in) and the console's own actions.
 * @typedef {object} Context
 * @property {Me | null} me
 * @property {typeof navigate} navigate
 * @property {() => Promise<Me>} loadMe
 * @property {() => Promise<void>} signOut
 * @property {(reason: string | null) => void} holdLeaving while a show-once secret is on
 *   screen, leaving (reload, Back, closing the tab) asks first; null lets go
 */
/**
 * A page module (static/pages/<name>.js); init may return its teardown.
 * @typedef {{ init: (main: HTMLElement, context: Context) => Promise<(() => void) | void> }} PageModule
 */

const BASE = "/console/";
/** @type {Context} */
const context = { me: null, navigate, loadMe, signOut, holdLeaving };
/** @type {string | null} */
let holding = null; // why leaving would lose something, while it would
let here = location.pathname + location.search; // the page shown, for a refused Back

/** @param {BeforeUnloadEvent} event */
function askBeforeUnload(event) {
  event.preventDefault();
  event.returnValue = holding ?? "";
}

/** @param {string | null} reason */
function holdLeaving(reason) {
  if (reason && !holding) window.addEventListener("beforeunload", askBeforeUnload);
  if (!reason && holding) window.removeEventListener("beforeunload", askBeforeUnload);
  holding = reason;
}
/** @type {(() => void) | null} */
let current = null; // the running page's teardown, if any

/** @returns {HTMLElement} */
function mainEl() { return find(document, "main", HTMLElement); }

/** @returns {string | undefined} */
function pageName() { return document.querySelector("main")?.dataset.page; }

/** @returns {Promise<Me>} */
async function loadMe() {
  const me = /** @type {Me} */ (await api("/users/me"));
  context.me = me;
  find(document, "#who", HTMLElement).textContent = me.email;
  return me;
}

function chrome() {
  const name = pageName();
  const inside = name !== "signin" && signedIn();
  find(document, "#nav", HTMLElement).hidden = !inside;
  find(document, "#account", HTMLElement).hidden = !inside;
  // Admin pages are linked only for administrators; the API refuses everyone else anyway.
  for (const item of findAll(document, "[data-admin-only]", HTMLElement)) item.hidden = !context.me?.is_admin;
  for (const link of findAll(document, "[data-page-link]", HTMLElement)) {
    if (link.dataset.pageLink === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/**
 * Run the module of the page in <main>, after the session check it needs.
 * @param {{ focus?: boolean }} [options] focus the new page's heading (after a swap)
 */
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
  const main = mainEl();
  try {
    if (name !== "signin" && !context.me && (signedIn() || !open)) await loadMe();
    chrome();
    if (main.hasAttribute("data-admin") && !context.me?.is_admin) { refuse(main); return; }
    const module = /** @type {PageModule} */ (await import(`./pages/${name}.js`));
    current = (await module.init(main, context)) ?? null;
  } catch (error) {
    if (error instanceof SignedOutError) return; // signed out meanwhile: this page is being left
    throw error;
  }
  armed(main);
  // After a swap, start keyboard and screen-reader users at the new page's heading.
  if (focus && main.isConnected && !main.contains(document.activeElement)) {
    const heading = main.querySelector("h1");
    heading?.setAttribute("tabindex", "-1");
    (heading ?? main).focus();
  }
}

/**
 * An administrators' page opened by someone else: say so, load nothing, link back.
 * The API would refuse every call anyway; this only spares the visitor a page of errors.
 * @param {HTMLElement} main
 */
function refuse(main) {
  const heading = document.createElement("h1");
  heading.textContent = "Administrators only";
  const text = document.createElement("p");
  text.className = "lede";
  text.textContent = "This page is for the service's administrators, and your account is not one.";
  const back = document.createElement("a");
  back.href = `${BASE}keys`;
  back.dataset.nav = "";
  back.textContent = "Go to your API keys";
  const section = document.createElement("section");
  section.className = "card narrow";
  section.dataset.refused = "";
  section.append(heading, text, back);
  main.replaceChildren(section);
  document.title = "Administrators only · authsvc";
}

/**
 * Buttons that need a script start disabled, so nothing is submitted before it is wired.
 * @param {ParentNode} root
 */
function armed(root) {
  for (const button of findAll(root, "[data-needs-js]", HTMLButtonElement)) {
    button.disabled = false;
    button.removeAttribute("data-needs-js");
  }
}

/**
 * Show another console page without reloading the document.
 * @param {string} url
 * @param {{ push?: boolean, replace?: boolean }} [options]
 * @returns {Promise<void>}
 */
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
  const next = doc.querySelector("main");
  if (!next) { location.assign(url); return; }
  mainEl().replaceWith(document.adoptNode(next));
  document.title = doc.title;
  if (replace) history.replaceState({}, "", url);
  else if (push) history.pushState({}, "", url);
  window.scrollTo(0, 0);
  here = location.pathname + location.search;
  await runPage({ focus: true });
}

async function signOut() {
  await logout();
  context.me = null;
  await navigate(`${BASE}signin?signed_out=out`);
}

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-nav]") : null;
  if (!(link instanceof HTMLAnchorElement) || event.defaultPrevented || event.button !== 0
      || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  event.preventDefault();
  if (url.pathname !== location.pathname) navigate(url.pathname + url.search);
});

// Back inside the console is no unload: ask as the browser would, and stay if told to.
window.addEventListener("popstate", () => {
  if (holding && !window.confirm(holding)) { history.pushState({}, "", here); return; }
  holdLeaving(null);
  navigate(location.pathname + location.search, { push: false });
});

find(document, "#sign-out", HTMLButtonElement).addEventListener("click", signOut);
armed(find(document, "header", HTMLElement));

// The "session ended" dialog: sign in again, then the interrupted call is made again.
const reauthDialog = find(document, "#reauth-dialog", HTMLDialogElement);
const reauthForm = find(document, "#reauth-form", HTMLFormElement);
/** @type {{ resolve: () => void, reject: (error: Error) => void }[]} */
let waiting = [];
const resetReauth = wireSignin(reauthForm, async (email) => {
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
    const email = field(reauthForm, "email", HTMLInputElement);
    if (context.me) email.value = context.me.email;
    open(reauthDialog);
    (context.me ? field(reauthForm, "password", HTMLInputElement) : email).focus();
  }
}));

runPage().catch((/** @type {unknown} */ error) => {
  const main = document.querySelector("main") ?? document.body;
  const p = document.createElement("p");
  p.className = "form-error";
  p.setAttribute("role", "alert");
  p.textContent = (error instanceof Error ? error.message : null)
    ?? "The console could not start. Reload the page to try again.";
  main.prepend(p);
});
