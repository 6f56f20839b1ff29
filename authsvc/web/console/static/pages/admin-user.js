// @ts-check
// One user (administrators): access, activation, their live sessions and API keys.
import { api } from "../api.js";
import { confirm } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, showErrors, showMessage, timeEl } from "../forms.js";
import { button, cell, el, words } from "../admin.js";
/** @import { AdminUser } from "../admin.js" */
/** @import { Page, PrivateToken, Session } from "../api.js" */
/** @import { Context } from "../app.js" */

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { me }) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const id = new URLSearchParams(location.search).get("id") ?? "";
  const base = `/users/${encodeURIComponent(id)}`;
  const pageError = $("#user-error");
  const status = $("#user-status");
  const form = find(main, "#access-form", HTMLFormElement);
  const activation = find(main, "#user-activation", HTMLButtonElement);
  const sessionRows = find(main, "#user-sessions tbody", HTMLTableSectionElement);
  const keyRows = find(main, "#user-keys tbody", HTMLTableSectionElement);
  /** @type {AdminUser | null} */
  let user = null;

  /** @param {unknown} error */
  const fail = (error) => showMessage(pageError, message(error));

  /** @param {AdminUser} u */
  function show(u) {
    user = u;
    $("#user-title").textContent = u.email;
    document.title = `${u.email} · authsvc`;
    const facts = [
      ["Status", u.is_active ? "Active" : "Deactivated"],
      ["Administrator", u.is_admin ? "Yes" : "No"],
      ["Two-factor", u.totp_enabled ? "On" : "Off"],
    ];
    const created = el("dd");
    created.append(timeEl(u.created_at, { withTime: true }));
    $("#user-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]),
                                     el("dt", "Created"), created);
    field(form, "scopes", HTMLInputElement).value = u.scopes.join(" ");
    field(form, "is_admin", HTMLInputElement).checked = u.is_admin;
    activation.hidden = false;
    activation.textContent = u.is_active ? "Deactivate" : "Reactivate";
    activation.className = u.is_active ? "danger" : "primary";
    find(main, "#user-audit", HTMLAnchorElement).href = `/console/audit?user_id=${encodeURIComponent(u.id)}`;
  }

  async function loadSessions() {
    const { items } = /** @type {Page<Session>} */ (await api(`${base}/sessions`));
    sessionRows.replaceChildren(...items.map((s) => {
      const tr = el("tr");
      tr.dataset.id = s.id;
      const device = el("th", s.user_agent ?? "Unknown device", { scope: "row", className: "wrap" });
      if (s.current) device.append(" ", el("span", "Your session", { className: "badge on" }));
      const actions = cell("", button("Sign out", () => endSession(s), { name: `Sign out session from ${s.ip ?? "unknown address"}` }));
      actions.className = "row-actions";
      tr.append(device, cell("Address", s.ip ?? "unknown"), cell("Signed in", timeEl(s.created_at, { withTime: true })),
                cell("Last active", timeEl(s.last_used_at, { withTime: true })), actions);
      return tr;
    }));
    $("#user-sessions-empty").hidden = items.length > 0;
    find(main, "#user-sessions-all", HTMLButtonElement).disabled = items.length === 0;
  }

  async function loadKeys() {
    const { items } = /** @type {Page<PrivateToken>} */ (await api(`${base}/private-tokens`));
    keyRows.replaceChildren(...items.map((k) => {
      const tr = el("tr");
      tr.dataset.id = k.id;
      const name = el("th", k.name, { scope: "row", className: "wrap" });
      const actions = cell("", k.status === "active"
        ? button("Revoke", () => revokeKey(k), { name: `Revoke ${k.name}`, danger: true }) : "");
      actions.className = "row-actions";
      tr.append(name, cell("Scopes", k.scopes.join(" ") || "none"), cell("Expires", timeEl(k.expires_at)),
                cell("Last used", timeEl(k.last_used_at, { withTime: true, fallback: "Never" })),
                cell("Status", el("span", k.status[0].toUpperCase() + k.status.slice(1), { className: `badge ${k.status}` })),
                actions);
      return tr;
    }));
    $("#user-keys-empty").hidden = items.length > 0;
  }

  /** @param {Session} s */
  async function endSession(s) {
    const ok = await confirm({ title: "Sign out this session?", action: "Sign out", danger: true,
      message: `${user?.email ?? "The user"} is signed out there at once; their API keys keep working.` });
    if (!ok) return;
    try {
      await api(`${base}/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
      showMessage(status, "The session was signed out.");
      await loadSessions();
    } catch (error) { fail(error); }
  }

  /** @param {PrivateToken} k */
  async function revokeKey(k) {
    const ok = await confirm({ title: `Revoke ${k.name}?`, action: "Revoke", danger: true,
      message: "Whatever uses this key is refused from its next request. This cannot be undone." });
    if (!ok) return;
    try {
      await api(`${base}/private-tokens/${encodeURIComponent(k.id)}`, { method: "DELETE" });
      showMessage(status, `${k.name} was revoked.`);
      await loadKeys();
    } catch (error) { fail(error); }
  }

  /**
   * @param {Record<string, unknown>} changes
   * @param {string} done
   */
  async function patch(changes, done) {
    const changed = /** @type {AdminUser} */ (await api(base, { method: "PATCH", body: changes }));
    show(changed);
    showMessage(pageError, "");
    showMessage(status, done);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const isAdmin = field(form, "is_admin", HTMLInputElement).checked;
    try {
      await busy(form, () => patch({ scopes: words(field(form, "scopes", HTMLInputElement).value), is_admin: isAdmin },
                                   `The access of ${user?.email ?? "the user"} was saved.`));
    } catch (error) { showErrors(form, error); }
  });

  activation.addEventListener("click", async () => {
    if (!user) return;
    const deactivating = user.is_active;
    if (deactivating) {
      const ok = await confirm({ title: `Deactivate ${user.email}?`, action: "Deactivate", danger: true,
        message: "Every token of theirs, sessions and API keys alike, is refused from their next request. "
          + "Reactivating restores the ones that have not expired." });
      if (!ok) return;
    }
    try {
      await patch({ is_active: !deactivating },
                  `${user.email} was ${deactivating ? "deactivated" : "reactivated"}.`);
    } catch (error) { fail(error); }
  });

  find(main, "#user-sessions-all", HTMLButtonElement).addEventListener("click", async () => {
    const ok = await confirm({ title: `Sign ${user?.email ?? "the user"} out everywhere?`, action: "Sign out everywhere",
      danger: true, message: "Every session of theirs ends at once. Their API keys keep working." });
    if (!ok) return;
    try {
      await api(`${base}/sessions`, { method: "DELETE" });
      showMessage(status, `${user?.email ?? "The user"} was signed out everywhere.`);
      await loadSessions();
    } catch (error) { fail(error); }
  });

  try {
    show(/** @type {AdminUser} */ (await api(base)));
    await Promise.all([loadSessions(), loadKeys()]);
  } catch (error) {
    fail(error);
    form.hidden = true;
  }
  const shown = /** @type {AdminUser | null} */ (user); // set by show(), which tsc cannot see
  if (me && shown && me.id === shown.id) showMessage(status, "This is your own account.");
}
