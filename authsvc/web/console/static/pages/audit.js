// @ts-check
// The audit log (administrators): filter by user, type and time, page through, open an event.
import { api } from "../api.js";
import { open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { clearErrors, message, showErrors, showMessage, timeEl } from "../forms.js";
import { button, cell, el } from "../admin.js";
/** @import { AdminUser, AuditEvent, AuditPage } from "../admin.js" */
/** @import { Page } from "../api.js" */

const PAGE_SIZE = 50;
// The types a filter is most often for; any other type can be typed in.
const KNOWN_TYPES = ["login.succeeded", "login.failed", "logout", "token.refreshed", "refresh.reuse_detected",
  "session.revoked", "session.revoked_all", "token.revoked", "password.changed", "totp.enabled", "totp.disabled",
  "totp.recovery_code_used",
  "private_token.created", "private_token.rotated", "private_token.deleted", "user.created",
  "user.registered", "user.updated"];

/**
 * A datetime-local value as RFC 3339 (the browser's time zone), or null when empty.
 * @param {string} value
 * @returns {string | null}
 */
function instant(value) {
  if (!value) return null;
  const when = new Date(value);
  return Number.isNaN(when.getTime()) ? null : when.toISOString();
}

/**
 * An RFC 3339 instant as a datetime-local value (local time, to the minute).
 * @param {string | null} iso
 * @returns {string}
 */
function local(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const shifted = new Date(when.getTime() - when.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

/** @param {HTMLElement} main */
export async function init(main) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const form = find(main, "#audit-filter", HTMLFormElement);
  const body = find(main, "#audit-table tbody", HTMLTableSectionElement);
  const userSelect = field(form, "user_id", HTMLSelectElement);
  const newer = find(main, "#audit-newer", HTMLButtonElement);
  const older = find(main, "#audit-older", HTMLButtonElement);
  const dialog = find(main, "#event-dialog", HTMLDialogElement);
  const pageError = $("#audit-error");
  /** @type {Map<string, string>} user id -> email */
  const emails = new Map();
  /** @type {(string | null)[]} the cursors of the pages before this one, and this one's */
  let cursors = [null];
  /** @type {string | null} */
  let next = null;

  find(main, "#audit-types", HTMLDataListElement).replaceChildren(
    ...KNOWN_TYPES.map((t) => el("option", "", { value: t })));

  /** @returns {URLSearchParams} the filter as the API's query */
  function query() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const user = userSelect.value;
    const type = field(form, "type", HTMLInputElement).value.trim();
    const since = instant(field(form, "since", HTMLInputElement).value);
    const until = instant(field(form, "until", HTMLInputElement).value);
    if (user) q.set("user_id", user);
    if (type) q.set("type", type);
    if (since) q.set("since", since);
    if (until) q.set("until", until);
    return q;
  }

  /** The filter in the address bar, so a link or a reload shows the same events. */
  function remember() {
    const q = query();
    q.delete("limit");
    history.replaceState(history.state, "", `${location.pathname}${q.size ? `?${q}` : ""}`);
  }

  async function load() {
    const q = query();
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.set("cursor", cursor);
    $("#audit-loading").hidden = false;
    try {
      const page = /** @type {AuditPage} */ (await api(`/audit-events?${q}`));
      next = page.next;
      body.replaceChildren(...page.items.map(row));
      $("#audit-empty").hidden = page.items.length > 0;
      showMessage(pageError, "");
      clearErrors(form);
    } catch (error) {
      body.replaceChildren();
      next = null;
      if (error && typeof error === "object" && "errors" in error) showErrors(form, error);
      else showMessage(pageError, message(error));
    } finally {
      $("#audit-loading").hidden = true;
      newer.disabled = cursors.length < 2;
      older.disabled = !next;
      $("#audit-page").textContent = `Page ${cursors.length}`;
    }
  }

  /**
   * @param {AuditEvent} event
   * @returns {HTMLTableRowElement}
   */
  function row(event) {
    const tr = el("tr");
    tr.dataset.id = event.id;
    const when = el("th", "", { scope: "row" });
    when.append(timeEl(event.at, { withTime: true }));
    const who = event.user_id ? emails.get(event.user_id) ?? event.user_id : "—";
    const actions = cell("", button("Details", () => details(event), { name: `Details of ${event.type} event ${event.id}` }));
    actions.className = "row-actions";
    tr.append(when, cell("Type", el("code", event.type)), cell("User", who), cell("Address", event.ip ?? "—"), actions);
    return tr;
  }

  /** @param {AuditEvent} event */
  function details(event) {
    find(dialog, "#event-title", HTMLElement).textContent = event.type;
    const at = el("dd");
    at.append(timeEl(event.at, { withTime: true }));
    const actor = typeof event.detail.actor_id === "string" ? event.detail.actor_id : null;
    /** @type {[string, string][]} */
    const facts = [
      ["Event", event.id],
      ["User", event.user_id ? `${emails.get(event.user_id) ?? "unknown"} (${event.user_id})` : "—"],
      ["By", actor ? `${emails.get(actor) ?? "unknown"} (${actor})` : "the user themself"],
      ["Address", event.ip ?? "—"],
      ["Browser or client", event.user_agent ?? "—"],
    ];
    find(dialog, "#event-facts", HTMLElement).replaceChildren(
      el("dt", "When"), at, ...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
    find(dialog, "#event-detail", HTMLElement).textContent = JSON.stringify(event.detail, null, 2);
    open(dialog);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    cursors = [null];
    remember();
    await load();
  });
  form.addEventListener("reset", () => {
    setTimeout(() => { cursors = [null]; remember(); load(); });
  });
  older.addEventListener("click", async () => {
    if (!next) return;
    cursors.push(next);
    await load();
    older.disabled ? newer.focus() : older.focus();
  });
  newer.addEventListener("click", async () => {
    if (cursors.length < 2) return;
    cursors.pop();
    await load();
    newer.disabled ? older.focus() : newer.focus();
  });
  find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());

  const params = new URLSearchParams(location.search);
  try {
    const { items } = /** @type {Page<AdminUser>} */ (await api("/users"));
    for (const u of items) {
      emails.set(u.id, u.email);
      userSelect.append(el("option", u.email, { value: u.id }));
    }
  } catch (error) {
    showMessage(pageError, message(error));
    return;
  }
  userSelect.value = params.get("user_id") ?? "";
  field(form, "type", HTMLInputElement).value = params.get("type") ?? "";
  field(form, "since", HTMLInputElement).value = local(params.get("since"));
  field(form, "until", HTMLInputElement).value = local(params.get("until"));
  await load();
}
