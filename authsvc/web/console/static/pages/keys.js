// @ts-check
// API keys: the table, the create dialog, the show-once dialog, rotate and delete.
import { api } from "../api.js";
import { confirm, copyText, open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, proof, proofFields, showErrors, showMessage, timeEl } from "../forms.js";
/** @import { Page, PrivateToken } from "../api.js" */
/** @import { Context } from "../app.js" */
/** @import { Proof } from "../forms.js" */

/** @type {Record<string, string>} */
const STATUS = { active: "Active", expired: "Expired", revoked: "Revoked" };

/**
 * With `team` (the team keys page), the same page manages that team's keys.
 * @param {HTMLElement} main
 * @param {Context} context
 * @param {string | null} [team]
 */
export async function init(main, { me: known, loadMe }, team = null) {
  const me = known ?? await loadMe();
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const base = team ? `/teams/${encodeURIComponent(team)}/private-tokens` : "/private-tokens";
  /** @type {{ scopes: string[] }} */
  let held = me;
  if (team) {
    const shown = /** @type {{ name: string, scopes: string[] }} */ (await api(`/teams/${encodeURIComponent(team)}`));
    $("#keys-team").textContent = shown.name;
    held = shown;
  }
  const table = find(main, "#keys-table", HTMLTableElement);
  const tbody = find(table, "tbody", HTMLTableSectionElement);
  const pageError = $("#keys-error");
  const pageStatus = $("#keys-status");
  const createDialog = find(main, "#create-dialog", HTMLDialogElement);
  const form = find(main, "#create-form", HTMLFormElement);
  const dateInput = find(main, "#create-date", HTMLInputElement);
  const rotateDialog = find(main, "#rotate-dialog", HTMLDialogElement);
  const rotateForm = find(main, "#rotate-form", HTMLFormElement);
  proofFields(form, me);
  proofFields(rotateForm, me);

  // --- the table ---------------------------------------------------------------------
  async function load() {
    try {
      const { items } = /** @type {Page<PrivateToken>} */ (await api(base));
      render(items);
      showMessage(pageError, "");
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#keys-loading").hidden = true;
    }
  }

  /**
   * @param {HTMLTableRowElement} row
   * @param {string} label
   * @param {string | Node} content
   * @returns {HTMLTableCellElement}
   */
  function cell(row, label, content) {
    const td = document.createElement("td");
    td.dataset.label = label;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    row.append(td);
    return td;
  }

  /** @param {PrivateToken[]} items */
  function render(items) {
    tbody.replaceChildren();
    $("#keys-empty").hidden = items.length > 0;
    table.hidden = items.length === 0;
    for (const key of items) {
      const row = document.createElement("tr");
      row.dataset.id = key.id;
      const name = document.createElement("th");
      name.scope = "row";
      name.dataset.label = "Name";
      name.textContent = key.name;
      if (key.description) {
        const d = document.createElement("span");
        d.className = "sub";
        d.textContent = key.description;
        name.append(d);
      }
      row.append(name);
      cell(row, "Scopes", key.scopes.length ? key.scopes.join(" ") : "none");
      cell(row, "Created", timeEl(key.created_at));
      cell(row, "Expires", timeEl(key.expires_at));
      cell(row, "Last used", timeEl(key.last_used_at, { withTime: true, fallback: "Never" }));
      const badge = document.createElement("span");
      badge.className = `badge ${key.status}`;
      badge.textContent = STATUS[key.status] ?? key.status;
      cell(row, "Status", badge);
      const actions = cell(row, "Actions", "");
      actions.className = "row-actions";
      if (key.status === "active") actions.append(button("Rotate", `Rotate key ${key.name}`, () => rotate(key)));
      if (key.status !== "revoked") actions.append(button("Delete", `Delete key ${key.name}`, () => remove(key), "danger"));
      tbody.append(row);
    }
  }

  /**
   * @param {string} text
   * @param {string} label its accessible name
   * @param {() => void} onClick
   * @param {string} [kind] its class
   * @returns {HTMLButtonElement}
   */
  function button(text, label, onClick, kind = "") {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    if (kind) b.className = kind;
    b.addEventListener("click", onClick);
    return b;
  }

  // --- create ------------------------------------------------------------------------
  const scopes = $("#create-scopes");
  for (const scope of held.scopes) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "scopes";
    box.value = scope;
    box.checked = true;
    label.append(box, ` ${scope}`);
    scopes.append(label);
  }

  /** @param {number} offset days from today */
  const day = (offset) => {
    const d = new Date();
    d.setDate(d.getDate() + offset);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  };
  dateInput.min = day(1);
  dateInput.max = day(Number(dateInput.dataset.maxDays) - 1);
  form.addEventListener("change", (event) => {
    const choice = event.target;
    if (!(choice instanceof HTMLInputElement) || choice.name !== "expiry") return;
    dateInput.disabled = choice.value !== "date";
    if (!dateInput.disabled) dateInput.focus();
  });

  $("#create-key").addEventListener("click", () => { clearErrors(form); open(createDialog); });
  find(createDialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => createDialog.close());

  /**
   * @typedef {Proof & { name: string, scopes: string[], expires_in_days?: number,
   *   expires_at?: string | null }} NewKey
   */
  /** @returns {NewKey} */
  function body() {
    /** @type {NewKey} */
    const data = { ...proof(form), name: field(form, "name", HTMLInputElement).value.trim(),
                   scopes: [...form.querySelectorAll('input[name="scopes"]:checked')]
                     .map((b) => /** @type {HTMLInputElement} */ (b).value) };
    const expiry = field(form, "expiry", RadioNodeList).value;
    if (expiry !== "date") {
      data.expires_in_days = Number(expiry);
    } else if (dateInput.value) {
      // The end of the chosen day where the user is, as an RFC 3339 UTC instant.
      const [y, m, d] = dateInput.value.split("-").map(Number);
      data.expires_at = new Date(y, m - 1, d, 23, 59, 59).toISOString().replace(/\.\d{3}Z$/, "Z");
    } else {
      data.expires_at = null;
    }
    return data;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const created = /** @type {PrivateToken} */ (
        await busy(form, () => api(base, { method: "POST", body: body() })));
      createDialog.close();
      form.reset();
      dateInput.disabled = true;
      await load();
      reveal(created, `Key “${created.name}” created.`);
    } catch (error) {
      showErrors(form, error);
    }
  });

  // --- the key, shown once -------------------------------------------------------------
  const secretDialog = find(main, "#secret-dialog", HTMLDialogElement);
  const secretValue = find(main, "#secret-value", HTMLInputElement);
  const closeButton = find(main, "#secret-close", HTMLButtonElement);
  const secretStatus = $("#secret-status");
  let copied = false;
  let afterClose = "";

  const markCopied = () => {
    copied = true;
    closeButton.disabled = false;
    $("#secret-close-hint").hidden = true;
    secretStatus.textContent = "Copied to the clipboard.";
  };

  /**
   * @param {PrivateToken} key as created, with its `token`
   * @param {string} done the page's notice once the dialog is closed
   */
  function reveal(key, done) {
    copied = false;
    afterClose = done;
    secretValue.value = key.token ?? "";
    $("#secret-name").textContent = key.name;
    closeButton.disabled = true;
    $("#secret-close-hint").hidden = false;
    secretStatus.textContent = "";
    open(secretDialog);
    $("#secret-copy").focus();
  }

  $("#secret-copy").addEventListener("click", async () => {
    if (await copyText(secretValue.value, secretValue)) markCopied();
    else secretStatus.textContent = "Copying is blocked here: select the key and copy it yourself (Ctrl+C or ⌘C).";
  });
  secretValue.addEventListener("copy", markCopied);
  secretValue.addEventListener("focus", () => secretValue.select());
  // Escape must not throw the only copy away.
  secretDialog.addEventListener("cancel", (event) => {
    if (!copied) { event.preventDefault(); secretStatus.textContent = "Copy the key before closing: it cannot be shown again."; }
  });
  secretDialog.addEventListener("close", () => {
    if (!copied) { secretDialog.showModal(); return; }
    secretValue.value = "";
    showMessage(pageStatus, afterClose);
  });
  closeButton.addEventListener("click", () => { if (copied) secretDialog.close(); });

  // --- rotate and delete ---------------------------------------------------------------
  // Rotating mints a key, so it asks for the password (and code) as creating does.
  /** @type {PrivateToken | null} */
  let rotating = null;
  /** @param {PrivateToken} key */
  function rotate(key) {
    rotating = key;
    rotateForm.reset();
    clearErrors(rotateForm);
    $("#rotate-title").textContent = `Rotate “${key.name}”?`;
    open(rotateDialog);
    field(rotateForm, "current_password", HTMLInputElement).focus();
  }
  find(rotateDialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => rotateDialog.close());
  rotateDialog.addEventListener("close", () => { rotateForm.reset(); });
  rotateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(rotateForm);
    const key = rotating;
    if (!key) return;
    try {
      const fresh = /** @type {PrivateToken} */ (await busy(rotateForm, () => api(
        `${base}/${encodeURIComponent(key.id)}/rotate`, { method: "POST", body: proof(rotateForm) })));
      rotateDialog.close();
      await load();
      reveal(fresh, `Key “${fresh.name}” rotated; the old key no longer works.`);
    } catch (error) {
      showErrors(rotateForm, error);
    }
  });

  /** @param {PrivateToken} key */
  async function remove(key) {
    const ok = await confirm({
      title: `Delete “${key.name}”?`,
      message: "Anything that uses this key will be refused from now on. This cannot be undone.",
      action: "Delete key",
      danger: true,
    });
    if (!ok) return;
    try {
      await api(`${base}/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      showMessage(pageStatus, `Key “${key.name}” deleted.`);
      await load();
      $("#create-key").focus();
    } catch (error) {
      showMessage(pageError, message(error));
    }
  }

  await load();
}
