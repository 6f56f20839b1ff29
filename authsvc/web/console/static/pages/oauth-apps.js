// @ts-check
// OAuth apps (administrators): register, list, rotate secrets, delete. Secrets are shown once.
import { api } from "../api.js";
import { confirm, copyText, open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, showErrors, showMessage } from "../forms.js";
/** @import { OAuthClient, Page } from "../api.js" */

/** @param {string} text */
const words = (text) => text.split(/\s+/).filter(Boolean);

/** @param {HTMLElement} main */
export async function init(main) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const body = find(main, "#oauth-apps-table tbody", HTMLTableSectionElement);
  const pageError = $("#oauth-apps-error");
  const status = $("#oauth-apps-status");
  const dialog = find(main, "#app-dialog", HTMLDialogElement);
  const form = find(main, "#app-form", HTMLFormElement);
  const secretDialog = find(main, "#app-secret-dialog", HTMLDialogElement);
  const secretId = find(main, "#app-secret-id", HTMLInputElement);
  const secretValue = find(main, "#app-secret-value", HTMLInputElement);

  /**
   * @param {string | Node} content
   * @returns {HTMLTableCellElement}
   */
  function cell(content) {
    const td = document.createElement("td");
    td.append(content);
    return td;
  }

  async function load() {
    try {
      const { items } = /** @type {Page<OAuthClient>} */ (await api("/oauth2/clients"));
      $("#oauth-apps-empty").hidden = items.length > 0;
      body.replaceChildren(...items.map(row));
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#oauth-apps-loading").hidden = true;
    }
  }

  /**
   * @param {OAuthClient} app
   * @returns {HTMLTableRowElement}
   */
  function row(app) {
    const tr = document.createElement("tr");
    tr.dataset.clientId = app.client_id;
    const id = document.createElement("code");
    id.textContent = app.client_id;
    const actions = document.createElement("td");
    if (app.confidential) {
      const rotate = document.createElement("button");
      rotate.type = "button";
      rotate.textContent = "Rotate secret";
      rotate.addEventListener("click", () => rotateSecret(app));
      actions.append(rotate, " ");
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "danger";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${app.name}`);
    remove.addEventListener("click", () => del(app));
    actions.append(remove);
    tr.append(cell(app.name), cell(id), cell(app.confidential ? "Confidential" : "Public"),
              cell(app.grant_types.join(", ")), cell(app.scopes.join(" ")),
              cell(app.redirect_uris.join("\n")), actions);
    return tr;
  }

  /** @param {OAuthClient} app as created or rotated, with its `client_secret` */
  function showSecret(app) {
    secretId.value = app.client_id;
    secretValue.value = app.client_secret ?? "(public app: no secret)";
    open(secretDialog);
  }

  /** @param {OAuthClient} app */
  async function rotateSecret(app) {
    const ok = await confirm({ title: `Rotate the secret of ${app.name}?`, action: "Rotate",
      message: "The current secret stops working at once; the app needs the new one." });
    if (!ok) return;
    try {
      showSecret(/** @type {OAuthClient} */ (
        await api(`/oauth2/clients/${encodeURIComponent(app.client_id)}/rotate-secret`, { method: "POST" })));
    } catch (error) { showMessage(pageError, message(error)); }
  }

  /** @param {OAuthClient} app */
  async function del(app) {
    const ok = await confirm({ title: `Delete ${app.name}?`, danger: true, action: "Delete",
      message: "Every token issued to this app is revoked and its users are signed out of it." });
    if (!ok) return;
    try {
      await api(`/oauth2/clients/${encodeURIComponent(app.client_id)}`, { method: "DELETE" });
      showMessage(status, `${app.name} was deleted.`);
      await load();
    } catch (error) { showMessage(pageError, message(error)); }
  }

  $("#create-app").addEventListener("click", () => { form.reset(); clearErrors(form); open(dialog); field(form, "name", HTMLInputElement).focus(); });
  find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());
  find(secretDialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => secretDialog.close());
  $("#app-secret-copy").addEventListener("click", () => copyText(secretValue.value, secretValue));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = {
      name: field(form, "name", HTMLInputElement).value.trim(),
      token_endpoint_auth_method: field(form, "token_endpoint_auth_method", RadioNodeList).value,
      grant_types: [...form.querySelectorAll('[name="grant_types"]:checked')]
        .map((el) => /** @type {HTMLInputElement} */ (el).value),
      redirect_uris: field(form, "redirect_uris", HTMLTextAreaElement).value.split("\n").map((s) => s.trim()).filter(Boolean),
      scopes: words(field(form, "scopes", HTMLInputElement).value),
      audiences: words(field(form, "audiences", HTMLInputElement).value),
    };
    try {
      const created = /** @type {OAuthClient} */ (
        await busy(form, () => api("/oauth2/clients", { method: "POST", body: data })));
      dialog.close();
      showSecret(created);
      showMessage(status, `${created.name} was registered.`);
      await load();
    } catch (error) { showErrors(form, error); }
  });

  await load();
}
