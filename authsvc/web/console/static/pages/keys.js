// @ts-check
// API keys: the Active and Inactive tables, the create dialog, editing in place, the
// show-once dialog, rotate and delete. Each part is its own function over one shared
// `KeysPage`, so a new field of the create dialog is one more function, not a rewrite.
import { api } from "../api.js";
import { confirm, copyText, open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, proof, proofFields, showErrors, showMessage, timeEl } from "../forms.js";
import { editedRateLimit, fillRateLimit, lastUsedFrom, restrictionBody, restrictionSummary } from "./key-restrictions.js";
/** @import { KeyRules, Me, Page, PrivateToken } from "../api.js" */
/** @import { Context } from "../app.js" */
/** @import { Proof } from "../forms.js" */

/** @type {Record<string, string>} */
const STATUS = { active: "Active", expired: "Expired", revoked: "Revoked" };

/**
 * What every part of the page shares.
 * @typedef {object} KeysPage
 * @property {HTMLElement} main
 * @property {(sel: string) => HTMLElement} $
 * @property {string} base the API path of these keys
 * @property {Me} me
 * @property {{ scopes: string[] }} held whose keys: the user, or the team
 * @property {KeyRules} rules
 * @property {Context} context
 * @property {() => Promise<void>} load
 * @property {(key: PrivateToken, done: string) => void} reveal
 * @property {(key: PrivateToken) => void} rotate
 * @property {PrivateToken[]} items the keys as last loaded
 */

/**
 * With `team` (the team keys page), the same page manages that team's keys.
 * @param {HTMLElement} main
 * @param {Context} context
 * @param {string | null} [team]
 * @returns {Promise<() => void>} the teardown
 */
export async function init(main, context, team = null) {
  const me = context.me ?? await context.loadMe();
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const base = team ? `/teams/${encodeURIComponent(team)}/private-tokens` : "/private-tokens";
  const rules = /** @type {Promise<KeyRules>} */ (api("/private-tokens/settings"));
  /** @type {{ scopes: string[] }} */
  let held = me;
  if (team) {
    const shown = /** @type {{ name: string, scopes: string[] }} */ (await api(`/teams/${encodeURIComponent(team)}`));
    $("#keys-team").textContent = shown.name;
    held = shown;
  }

  /** @type {KeysPage} */
  const page = {
    main, $, base, me, held, rules: await rules, context, items: [],
    load: async () => {},
    reveal: () => {},
    rotate: () => {},
  };
  page.load = () => loadTable(page);
  page.reveal = wireSecretDialog(page);
  page.rotate = wireRotate(page);
  wireCreate(page);
  await page.load();
  return () => context.holdLeaving(null);
}

// --- the tables ---------------------------------------------------------------------------

/** @param {KeysPage} page */
async function loadTable(page) {
  const { $ } = page;
  try {
    const { items } = /** @type {Page<PrivateToken>} */ (await api(page.base));
    page.items = items;
    renderTables(page, items);
    showMessage($("#keys-error"), "");
  } catch (error) {
    showMessage($("#keys-error"), message(error));
  } finally {
    $("#keys-loading").hidden = true;
  }
}

/**
 * Active keys in the first table; expired and revoked ones in the collapsed second, as
 * GitLab shows them.
 * @param {KeysPage} page
 * @param {PrivateToken[]} items
 */
function renderTables(page, items) {
  const { main, $ } = page;
  const active = items.filter((k) => k.status === "active");
  const inactive = items.filter((k) => k.status !== "active");
  const byId = new Map(items.map((k) => [k.id, k]));
  for (const [table, list] of /** @type {const} */ ([["#keys-table", active], ["#keys-inactive-table", inactive]])) {
    const body = find(find(main, table, HTMLTableElement), "tbody", HTMLTableSectionElement);
    body.replaceChildren(...list.map((key) => keyRow(page, key, byId)));
  }
  find(main, "#keys-table", HTMLTableElement).hidden = active.length === 0;
  $("#keys-empty").hidden = items.length > 0;
  $("#keys-none-active").hidden = active.length > 0 || items.length === 0;
  $("#keys-active-title").parentElement?.toggleAttribute("hidden", items.length === 0);
  $("#keys-active-count").textContent = `(${active.length})`;
  $("#keys-inactive").hidden = inactive.length === 0;
  $("#keys-inactive-count").textContent = `(${inactive.length})`;
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

/**
 * @param {KeysPage} page
 * @param {PrivateToken} key
 * @param {Map<string, PrivateToken>} byId
 * @returns {HTMLTableRowElement}
 */
function keyRow(page, key, byId) {
  const row = document.createElement("tr");
  row.dataset.id = key.id;
  row.id = `key-${key.id}`;
  const name = document.createElement("th");
  name.scope = "row";
  name.dataset.label = "Name";
  name.className = "key-name";
  const title = document.createElement("span");
  title.className = "name";
  title.textContent = key.name;
  name.append(title);
  if (key.description) {
    const d = document.createElement("span");
    d.className = "sub";
    d.textContent = key.description;
    name.append(d);
  }
  const restricted = restrictionSummary(key);
  if (restricted) { row.classList.add("restricted"); name.append(restricted); }
  row.append(name);
  cell(row, "Scopes", key.scopes.length ? key.scopes.join(" ") : "none").className = "scopes";
  cell(row, "Created", timeEl(key.created_at));
  cell(row, "Expires", timeEl(key.expires_at));
  const used = cell(row, "Last used", timeEl(key.last_used_at, { withTime: true, fallback: "Never" }));
  const from = lastUsedFrom(key);
  if (from) used.append(" ", from);
  const status = document.createElement("span");
  const badge = document.createElement("span");
  badge.className = `badge ${key.status}`;
  badge.textContent = STATUS[key.status] ?? key.status;
  status.append(badge);
  if (key.rotated_to) status.append(successorLink(page, key.rotated_to, byId));
  cell(row, "Status", status);
  const actions = cell(row, "Actions", "");
  actions.className = "row-actions";
  actions.append(button("Edit", `Edit key ${key.name}`, () => editInPlace(page, row, key)));
  // The API renews an expired key by rotating it; a revoked one stays dead.
  if (key.status !== "revoked") actions.append(button("Rotate", `Rotate key ${key.name}`, () => page.rotate(key)));
  if (key.status !== "revoked") actions.append(button("Delete", `Delete key ${key.name}`, () => remove(page, key), "danger"));
  return row;
}

/**
 * "rotated to …": a link to the key that replaced this one.
 * @param {KeysPage} page
 * @param {string} id
 * @param {Map<string, PrivateToken>} byId
 * @returns {HTMLElement}
 */
function successorLink(page, id, byId) {
  const next = byId.get(id);
  const p = document.createElement("span");
  p.className = "sub rotated";
  p.append("rotated to ");
  const a = document.createElement("a");
  a.href = `#key-${id}`;
  a.textContent = next ? `“${next.name}”` : "a newer key";
  a.addEventListener("click", (event) => {
    event.preventDefault();
    const target = page.main.querySelector(`#key-${CSS.escape(id)}`);
    if (!(target instanceof HTMLTableRowElement)) return;
    const folded = target.closest("details");
    if (folded) folded.open = true;
    const head = target.querySelector("th");
    if (head) { head.tabIndex = -1; head.focus(); }
    target.scrollIntoView({ block: "center" });
  });
  p.append(a);
  return p;
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

// --- rename and redescribe in place ---------------------------------------------------

/**
 * The name cell becomes a small form; Save sends PATCH, Cancel or Escape puts it back.
 * @param {KeysPage} page
 * @param {HTMLTableRowElement} row
 * @param {PrivateToken} key
 */
function editInPlace(page, row, key) {
  const head = find(row, "th", HTMLTableCellElement);
  if (head.querySelector("form")) return;
  const template = find(page.main, "#key-edit-template", HTMLTemplateElement);
  const form = find(/** @type {DocumentFragment} */ (template.content.cloneNode(true)), "form", HTMLFormElement);
  const nameInput = field(form, "name", HTMLInputElement);
  const description = field(form, "description", HTMLTextAreaElement);
  // Labels tied to this row's own controls.
  for (const control of [nameInput, description, field(form, "rate_limit", HTMLInputElement), field(form, "rate_unit", HTMLSelectElement)]) {
    control.id = `edit-${key.id}-${control.name}`;
    const label = form.querySelector(`label[data-for="${control.name}"]`);
    if (label instanceof HTMLLabelElement) label.htmlFor = control.id;
  }
  nameInput.value = key.name;
  description.value = key.description ?? "";
  fillRateLimit(form, key);
  // Wired now: the shell's copy of this form starts disabled, as every form does.
  for (const b of form.querySelectorAll("button[data-needs-js]")) {
    if (b instanceof HTMLButtonElement) { b.disabled = false; b.removeAttribute("data-needs-js"); }
  }
  form.setAttribute("aria-label", `Edit key ${key.name}`);
  const shown = [...head.childNodes];
  head.replaceChildren(form);
  const editButton = row.querySelector(".row-actions button");
  const restore = () => {
    head.replaceChildren(...shown);
    if (editButton instanceof HTMLButtonElement) editButton.focus();
  };
  find(form, "[data-cancel]", HTMLButtonElement).addEventListener("click", restore);
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); restore(); } });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    /** @type {{ name: string, description: string | null, rate_limit?: string | null }} */
    const body = { name: nameInput.value.trim(), description: description.value.trim() || null };
    const limit = editedRateLimit(form, key);
    if (limit !== undefined) body.rate_limit = limit;
    try {
      const saved = /** @type {PrivateToken} */ (await busy(form, () => api(
        `${page.base}/${encodeURIComponent(key.id)}`, { method: "PATCH", body })));
      await page.load();
      showMessage(page.$("#keys-status"), `Key “${saved.name}” saved.`);
      const again = page.main.querySelector(`#key-${CSS.escape(key.id)} .row-actions button`);
      if (again instanceof HTMLButtonElement) again.focus();
    } catch (error) {
      showErrors(form, error);
    }
  });
  nameInput.focus();
  nameInput.select();
}

// --- create ----------------------------------------------------------------------------

/**
 * @typedef {Proof & { name: string, description: string | null, scopes: string[],
 *   expires_in_days?: number, expires_at?: string | null, allowed_ips?: string[],
 *   rate_limit?: string }} NewKey
 */

/** @param {KeysPage} page */
function wireCreate(page) {
  const { main, $ } = page;
  const dialog = find(main, "#create-dialog", HTMLDialogElement);
  const form = find(main, "#create-form", HTMLFormElement);
  proofFields(form, page.me);
  scopeChoices(page, $("#create-scopes"));
  const expiry = expiryChoices(form);

  /** Every field back to its default: base scopes ticked (and locked), the rest not. */
  const reset = () => { form.reset(); expiry.sync(); clearErrors(form); };

  $("#create-key").addEventListener("click", () => { clearErrors(form); expiry.sync(); open(dialog); });
  find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());

  /** @returns {NewKey} */
  const body = () => {
    const description = field(form, "description", HTMLTextAreaElement).value.trim();
    return {
      ...proof(form),
      ...restrictionBody(form),
      name: field(form, "name", HTMLInputElement).value.trim(),
      description: description || null,
      scopes: [...form.querySelectorAll('input[name="scopes"]:checked')]
        .map((b) => /** @type {HTMLInputElement} */ (b).value),
      ...expiry.value(),
    };
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const created = /** @type {PrivateToken} */ (
        await busy(form, () => api(page.base, { method: "POST", body: body() })));
      dialog.close();
      reset();
      await page.load();
      page.reveal(created, `Key “${created.name}” created.`);
    } catch (error) {
      showErrors(form, error);
    }
  });
}

/**
 * One checkbox per scope the holder has, each with what it grants. The base scopes are
 * ticked and locked; every other one is opt-in. `defaultChecked` is what `form.reset()`
 * returns to, so the next key starts from the same defaults.
 * @param {KeysPage} page
 * @param {HTMLElement} container
 */
function scopeChoices(page, container) {
  const locked = new Set(page.rules.base_scopes);
  const scopes = [...page.held.scopes].sort((a, b) => Number(locked.has(b)) - Number(locked.has(a)));
  container.replaceChildren(...scopes.map((scope) => {
    const label = document.createElement("label");
    label.className = "scope-choice";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "scopes";
    box.value = scope;
    box.id = `scope-${scope}`;
    box.defaultChecked = locked.has(scope);
    box.checked = box.defaultChecked;
    // A locked scope is sent anyway (the API adds it): readonly is not a thing for
    // checkboxes, so it is disabled and said in words.
    box.disabled = locked.has(scope);
    const text = document.createElement("span");
    const name = document.createElement("code");
    name.textContent = scope;
    text.append(name);
    if (locked.has(scope)) {
      const tag = document.createElement("span");
      tag.className = "locked";
      tag.textContent = " always included";
      text.append(tag);
    }
    const words = document.createElement("span");
    words.className = "sub";
    words.textContent = page.rules.scope_descriptions[scope] ?? `Use the “${scope}” permission on your behalf.`;
    text.append(words);
    label.append(box, text);
    return label;
  }));
}

/**
 * The expiry radios and the date field. Arrow keys move between the radios only: picking
 * "On a date" enables the date field (the next Tab stop) without pulling focus into it.
 * @param {HTMLFormElement} form
 * @returns {{ value: () => { expires_in_days?: number, expires_at?: string | null }, sync: () => void }}
 */
function expiryChoices(form) {
  const dateInput = find(form, "#create-date", HTMLInputElement);
  const dateHint = find(form, "#create-date-hint", HTMLElement);
  /** @param {number} offset days from today */
  const day = (offset) => {
    const d = new Date();
    d.setDate(d.getDate() + offset);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  };
  dateInput.min = day(1);
  dateInput.max = day(Number(dateInput.dataset.maxDays) - 1);
  const chosen = () => field(form, "expiry", RadioNodeList).value;
  const sync = () => {
    const onDate = chosen() === "date";
    dateInput.disabled = !onDate;
    dateHint.hidden = !onDate;
  };
  form.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.name === "expiry") sync();
  });
  // form.reset() fires no change event.
  form.addEventListener("reset", () => { setTimeout(sync); });
  const value = () => {
    const expiry = chosen();
    if (expiry !== "date") return { expires_in_days: Number(expiry) };
    if (!dateInput.value) return { expires_at: null };
    // The end of the chosen day where the user is, as an RFC 3339 UTC instant.
    const [y, m, d] = dateInput.value.split("-").map(Number);
    return { expires_at: new Date(y, m - 1, d, 23, 59, 59).toISOString().replace(/\.\d{3}Z$/, "Z") };
  };
  sync();
  return { value, sync };
}

// --- the key, shown once -------------------------------------------------------------

/**
 * @param {KeysPage} page
 * @returns {(key: PrivateToken, done: string) => void} reveal
 */
function wireSecretDialog(page) {
  const { main, $, context } = page;
  const dialog = find(main, "#secret-dialog", HTMLDialogElement);
  const secretValue = find(main, "#secret-value", HTMLInputElement);
  const closeButton = find(main, "#secret-close", HTMLButtonElement);
  const status = $("#secret-status");
  let copied = false;
  let afterClose = "";

  const markCopied = () => {
    copied = true;
    closeButton.disabled = false;
    $("#secret-close-hint").hidden = true;
    status.textContent = "Copied to the clipboard.";
  };

  $("#secret-copy").addEventListener("click", async () => {
    if (await copyText(secretValue.value, secretValue)) markCopied();
    else status.textContent = "Copying is blocked here: select the key and copy it yourself (Ctrl+C or ⌘C).";
  });
  secretValue.addEventListener("copy", markCopied);
  secretValue.addEventListener("focus", () => secretValue.select());
  // Escape must not throw the only copy away.
  dialog.addEventListener("cancel", (event) => {
    if (!copied) { event.preventDefault(); status.textContent = "Copy the key before closing: it cannot be shown again."; }
  });
  dialog.addEventListener("close", () => {
    if (!copied) { dialog.showModal(); return; }
    secretValue.value = "";
    context.holdLeaving(null);
    showMessage($("#keys-status"), afterClose);
  });
  closeButton.addEventListener("click", () => { if (copied) { context.holdLeaving(null); dialog.close(); } });

  return (key, done) => {
    copied = false;
    afterClose = done;
    secretValue.value = key.token ?? "";
    $("#secret-name").textContent = key.name;
    closeButton.disabled = true;
    $("#secret-close-hint").hidden = false;
    status.textContent = "";
    // Reload, Back or closing the tab would lose the only copy: the browser asks first.
    context.holdLeaving("The new key is shown only once. Leave without copying it?");
    open(dialog);
    $("#secret-copy").focus();
  };
}

// --- rotate and delete ---------------------------------------------------------------

/**
 * Rotating mints a key, so it asks for the password (and code) as creating does.
 * @param {KeysPage} page
 * @returns {(key: PrivateToken) => void}
 */
function wireRotate(page) {
  const { main, $ } = page;
  const dialog = find(main, "#rotate-dialog", HTMLDialogElement);
  const form = find(main, "#rotate-form", HTMLFormElement);
  proofFields(form, page.me);
  /** @type {PrivateToken | null} */
  let rotating = null;
  find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { form.reset(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const key = rotating;
    if (!key) return;
    try {
      const fresh = /** @type {PrivateToken} */ (await busy(form, () => api(
        `${page.base}/${encodeURIComponent(key.id)}/rotate`, { method: "POST", body: proof(form) })));
      dialog.close();
      await page.load();
      page.reveal(fresh, key.status === "expired"
        ? `Key “${fresh.name}” renewed: a new key replaces the expired one.`
        : `Key “${fresh.name}” rotated; the old key no longer works.`);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return (key) => {
    rotating = key;
    form.reset();
    clearErrors(form);
    $("#rotate-title").textContent = key.status === "expired" ? `Renew “${key.name}”?` : `Rotate “${key.name}”?`;
    $("#rotate-message").textContent = key.status === "expired"
      ? "This key has expired. A new key with the same name, scopes and lifetime replaces it."
      : "A new key with the same name, scopes and lifetime replaces it. The current key stops working at once.";
    open(dialog);
    field(form, "current_password", HTMLInputElement).focus();
  };
}

/**
 * @param {KeysPage} page
 * @param {PrivateToken} key
 */
async function remove(page, key) {
  const ok = await confirm({
    title: `Delete “${key.name}”?`,
    message: "Anything that uses this key will be refused from now on. This cannot be undone.",
    action: "Delete key",
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`${page.base}/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    showMessage(page.$("#keys-status"), `Key “${key.name}” deleted.`);
    await page.load();
    page.$("#create-key").focus();
  } catch (error) {
    showMessage(page.$("#keys-error"), message(error));
  }
}
