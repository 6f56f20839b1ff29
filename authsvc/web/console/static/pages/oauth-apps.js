// OAuth apps (administrators): register, list, rotate secrets, delete. Secrets are shown once.
import { api } from "../api.js";
import { confirm, copyText, open } from "../dialogs.js";
import { busy, clearErrors, showErrors, showMessage } from "../forms.js";

const words = (text) => text.split(/\s+/).filter(Boolean);

export async function init(main) {
  const $ = (sel) => main.querySelector(sel);
  const body = $("#oauth-apps-table tbody");
  const pageError = $("#oauth-apps-error");
  const status = $("#oauth-apps-status");
  const dialog = $("#app-dialog");
  const form = $("#app-form");
  const secretDialog = $("#app-secret-dialog");

  function cell(content) {
    const td = document.createElement("td");
    td.append(content);
    return td;
  }

  async function load() {
    try {
      const { items } = await api("/oauth2/clients");
      $("#oauth-apps-empty").hidden = items.length > 0;
      body.replaceChildren(...items.map(row));
    } catch (error) {
      showMessage(pageError, error.message);
    } finally {
      $("#oauth-apps-loading").hidden = true;
    }
  }

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

  function showSecret(app) {
    $("#app-secret-id").value = app.client_id;
    $("#app-secret-value").value = app.client_secret ?? "(public app: no secret)";
    open(secretDialog);
  }

  async function rotateSecret(app) {
    const ok = await confirm({ title: `Rotate the secret of ${app.name}?`, action: "Rotate",
      message: "The current secret stops working at once; the app needs the new one." });
    if (!ok) return;
    try {
      showSecret(await api(`/oauth2/clients/${encodeURIComponent(app.client_id)}/rotate-secret`, { method: "POST" }));
    } catch (error) { showMessage(pageError, error.message); }
  }

  async function del(app) {
    const ok = await confirm({ title: `Delete ${app.name}?`, danger: true, action: "Delete",
      message: "Every token issued to this app is revoked and its users are signed out of it." });
    if (!ok) return;
    try {
      await api(`/oauth2/clients/${encodeURIComponent(app.client_id)}`, { method: "DELETE" });
      showMessage(status, `${app.name} was deleted.`);
      await load();
    } catch (error) { showMessage(pageError, error.message); }
  }

  $("#create-app").addEventListener("click", () => { form.reset(); clearErrors(form); open(dialog); form.elements.name.focus(); });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  secretDialog.querySelector("[data-close]").addEventListener("click", () => secretDialog.close());
  $("#app-secret-copy").addEventListener("click", () => copyText($("#app-secret-value").value, $("#app-secret-value")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = {
      name: form.elements.name.value.trim(),
      token_endpoint_auth_method: form.querySelector('[name="token_endpoint_auth_method"]:checked').value,
      grant_types: [...form.querySelectorAll('[name="grant_types"]:checked')].map((el) => el.value),
      redirect_uris: form.elements.redirect_uris.value.split("\n").map((s) => s.trim()).filter(Boolean),
      scopes: words(form.elements.scopes.value),
      audiences: words(form.elements.audiences.value),
    };
    try {
      const created = await busy(form, () => api("/oauth2/clients", { method: "POST", body: data }));
      dialog.close();
      showSecret(created);
      showMessage(status, `${created.name} was registered.`);
      await load();
    } catch (error) { showErrors(form, error); }
  });

  await load();
}
