// @ts-check
// Connected apps: the OAuth apps you allowed; withdrawing revokes their tokens for you.
import { api } from "../api.js";
import { confirm } from "../dialogs.js";
import { find } from "../dom.js";
import { message, showMessage, timeEl } from "../forms.js";
/** @import { Consent, Page } from "../api.js" */

/** @param {HTMLElement} main */
export async function init(main) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const list = $("#apps-list");
  const pageError = $("#apps-error");
  const status = $("#apps-status");

  async function load() {
    try {
      const { items } = /** @type {Page<Consent>} */ (await api("/oauth2/consents"));
      render(items);
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#apps-loading").hidden = true;
    }
  }

  /** @param {Consent[]} items */
  function render(items) {
    $("#apps-empty").hidden = items.length > 0;
    list.replaceChildren(...items.map((app) => {
      const li = document.createElement("li");
      li.className = "card connected-app";
      li.dataset.clientId = app.client_id;
      const head = document.createElement("h2");
      head.textContent = app.name;
      const since = document.createElement("p");
      since.className = "hint";
      since.append("Allowed ", timeEl(app.granted_at, { withTime: true }));
      const scopes = document.createElement("ul");
      scopes.className = "scope-list";
      scopes.append(...app.scopes.map((s) => {
        const item = document.createElement("li");
        item.textContent = s.description;
        return item;
      }));
      const withdraw = document.createElement("button");
      withdraw.type = "button";
      withdraw.className = "danger";
      withdraw.textContent = "Withdraw access";
      withdraw.setAttribute("aria-label", `Withdraw access of ${app.name}`);
      withdraw.addEventListener("click", () => remove(app));
      li.append(head, since, scopes, withdraw);
      return li;
    }));
  }

  /** @param {Consent} app */
  async function remove(app) {
    const ok = await confirm({ title: `Withdraw access of ${app.name}?`, danger: true, action: "Withdraw",
      message: "The app is signed out at once and must ask you again to get back in." });
    if (!ok) return;
    try {
      await api(`/oauth2/consents/${encodeURIComponent(app.client_id)}`, { method: "DELETE" });
      showMessage(status, `${app.name} no longer has access to your account.`);
      await load();
    } catch (error) {
      showMessage(pageError, message(error));
    }
  }

  await load();
}
