// @ts-check
// Users (administrators): list and search every account, create one, open one to manage it.
import { api } from "../api.js";
import { open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, showErrors, showMessage, timeEl } from "../forms.js";
import { cell, el, words } from "../admin.js";
/** @import { AdminUser } from "../admin.js" */
/** @import { Page } from "../api.js" */

/** @param {HTMLElement} main */
export async function init(main) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const body = find(main, "#users-table tbody", HTMLTableSectionElement);
  const search = find(main, "#users-search", HTMLInputElement);
  const pageError = $("#users-error");
  const status = $("#users-status");
  const dialog = find(main, "#user-dialog", HTMLDialogElement);
  const form = find(main, "#user-form", HTMLFormElement);
  /** @type {AdminUser[]} */
  let everyone = [];

  async function load() {
    try {
      everyone = /** @type {Page<AdminUser>} */ (await api("/users")).items;
      render();
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#users-loading").hidden = true;
    }
  }

  function render() {
    const needle = search.value.trim().toLowerCase();
    const shown = everyone.filter((u) => u.email.toLowerCase().includes(needle));
    body.replaceChildren(...shown.map(row));
    $("#users-empty").hidden = shown.length > 0;
    $("#users-count").textContent = needle
      ? `${shown.length} of ${everyone.length} users match.` : `${everyone.length} users.`;
  }

  /**
   * @param {AdminUser} user
   * @returns {HTMLTableRowElement}
   */
  function row(user) {
    const tr = el("tr");
    tr.dataset.userId = user.id;
    const who = el("th", user.email, { scope: "row" });
    if (user.is_admin) who.append(" ", el("span", "Admin", { className: "badge on" }));
    const state = el("span", user.is_active ? "Active" : "Deactivated",
                     { className: `badge ${user.is_active ? "active" : "revoked"}` });
    const manage = el("a", "Manage", { href: `/console/admin-user?id=${encodeURIComponent(user.id)}` });
    manage.dataset.nav = "";
    manage.setAttribute("aria-label", `Manage ${user.email}`);
    const actions = cell("", manage);
    actions.className = "row-actions";
    tr.append(who, cell("Status", state), cell("Scopes", user.scopes.join(" ") || "none"),
              cell("Two-factor", user.totp_enabled ? "On" : "Off"), cell("Created", timeEl(user.created_at)),
              actions);
    return tr;
  }

  search.addEventListener("input", render);
  $("#create-user").addEventListener("click", () => {
    form.reset();
    clearErrors(form);
    open(dialog);
    field(form, "email", HTMLInputElement).focus();
  });
  find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const scopes = words(field(form, "scopes", HTMLInputElement).value);
    /** @type {{ email: string, password: string, is_admin: boolean, scopes?: string[] }} */
    const data = {
      email: field(form, "email", HTMLInputElement).value.trim(),
      password: field(form, "password", HTMLInputElement).value,
      is_admin: field(form, "is_admin", HTMLInputElement).checked,
    };
    if (scopes.length) data.scopes = scopes;
    try {
      const created = /** @type {AdminUser} */ (
        await busy(form, () => api("/users", { method: "POST", body: data })));
      dialog.close();
      showMessage(status, `${created.email} was created.`);
      await load();
    } catch (error) { showErrors(form, error); }
  });

  await load();
}
