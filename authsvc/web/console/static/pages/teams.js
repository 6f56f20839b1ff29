// Teams: create one, see members and roles, add by email, change roles, remove, leave.
// Every rule (who may do what, the last owner) is the API's; this page shows its answers.
import { api } from "../api.js";
import { confirm } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, message, showErrors, showMessage } from "../forms.js";
/** @import { Page } from "../api.js" */
/** @import { Context } from "../app.js" */

/**
 * @typedef {object} Team GET /teams item: the caller's view of one team
 * @property {string} id
 * @property {string} name
 * @property {string[]} scopes
 * @property {"owner" | "admin" | "member"} role
 */
/**
 * @typedef {object} Member GET /teams/{id}/members item
 * @property {string} user_id
 * @property {string} email
 * @property {string} role
 */

const ROLES = ["owner", "admin", "member"];

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { me: known, loadMe }) {
  const me = known ?? await loadMe();
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const list = $("#teams-list");
  const pageError = $("#teams-error");
  const status = $("#teams-status");
  const enc = encodeURIComponent;

  async function load() {
    try {
      const { items } = /** @type {Page<Team>} */ (await api("/teams"));
      $("#teams-empty").hidden = items.length > 0;
      const cards = [];
      for (const team of items) cards.push(await card(team));
      list.replaceChildren(...cards);
      showMessage(pageError, "");
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#teams-loading").hidden = true;
    }
  }

  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} [text]
   * @param {Record<string, unknown>} [props]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, text = "", props = {}) {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    Object.assign(node, props);
    return node;
  }

  /** @param {Team} team */
  async function card(team) {
    const li = el("li", "", { className: "card team" });
    li.dataset.teamId = team.id;
    const manager = team.role === "owner" || team.role === "admin";
    const keys = el("a", "API keys", { href: `/console/team-keys?team=${enc(team.id)}` });
    keys.setAttribute("aria-label", `API keys of ${team.name}`);
    li.append(el("h2", team.name), el("p", `Your role: ${team.role}. Scopes: ${team.scopes.join(" ") || "none"}.`, { className: "hint" }), keys);

    const { items: members } = /** @type {Page<Member>} */ (await api(`/teams/${enc(team.id)}/members`));
    const table = el("table", "", { className: "responsive members" });
    table.append(el("caption", `Members of ${team.name}`, { className: "visually-hidden" }));
    const head = el("thead");
    const hr = el("tr");
    for (const h of ["Email", "Role", "Actions"]) hr.append(el("th", h, { scope: "col" }));
    head.append(hr);
    const body = el("tbody");
    for (const m of members) {
      const tr = el("tr");
      tr.dataset.userId = m.user_id;
      tr.append(el("th", m.email, { scope: "row" }));
      const roleCell = el("td");
      const mayChange = team.role === "owner" || (team.role === "admin" && m.role !== "owner");
      if (mayChange) {
        const select = el("select");
        select.setAttribute("aria-label", `Role of ${m.email}`);
        for (const r of ROLES) {
          if (r === "owner" && team.role !== "owner") continue;
          select.append(el("option", r, { value: r, selected: r === m.role }));
        }
        select.addEventListener("change", () => changeRole(team, m, select.value));
        roleCell.append(select);
      } else {
        roleCell.textContent = m.role;
      }
      tr.append(roleCell);
      const actions = el("td", "", { className: "row-actions" });
      if (m.user_id === me.id) {
        const leave = el("button", "Leave", { type: "button", className: "danger" });
        leave.setAttribute("aria-label", `Leave ${team.name}`);
        leave.addEventListener("click", () => remove(team, m, true));
        actions.append(leave);
      } else if (mayChange) {
        const rm = el("button", "Remove", { type: "button", className: "danger" });
        rm.setAttribute("aria-label", `Remove ${m.email}`);
        rm.addEventListener("click", () => remove(team, m, false));
        actions.append(rm);
      }
      tr.append(actions);
      body.append(tr);
    }
    table.append(head, body);
    li.append(table);

    if (manager) {
      const form = el("form", "", { className: "add-member", noValidate: true });
      const id = `add-${team.id}`;
      const formError = el("p", "", { className: "form-error", hidden: true });
      formError.setAttribute("role", "alert");
      formError.dataset.errorFor = "";
      const emailField = el("div", "", { className: "field" });
      const email = el("input", "", { id: `${id}-email`, name: "email", type: "email", autocomplete: "off", required: true });
      const emailError = el("p", "", { className: "field-error", hidden: true });
      emailError.dataset.errorFor = "email";
      emailField.append(el("label", "Add a member by email", { htmlFor: `${id}-email` }), email, emailError);
      const roleField = el("div", "", { className: "field" });
      roleField.append(el("label", "Role", { htmlFor: `${id}-role` }), el("select", "", { id: `${id}-role`, name: "role" }));
      const actions = el("div", "", { className: "actions" });
      actions.append(el("button", "Add member", { type: "submit", className: "primary" }));
      form.append(formError, emailField, roleField, actions);
      for (const r of ROLES) {
        if (r === "owner" && team.role !== "owner") continue;
        field(form, "role", HTMLSelectElement).append(el("option", r, { value: r, selected: r === "member" }));
      }
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        const body = {
          email: field(form, "email", HTMLInputElement).value.trim(),
          role: field(form, "role", HTMLSelectElement).value,
        };
        try {
          const added = /** @type {Member} */ (await busy(form, () => api(`/teams/${enc(team.id)}/members`, {
            method: "POST", body })));
          showMessage(status, `${added.email} added to ${team.name} as ${added.role}.`);
          await load();
        } catch (error) {
          showErrors(form, error);
        }
      });
      li.append(form);
    }
    if (team.role === "owner") {
      const del = el("button", "Delete team", { type: "button", className: "danger" });
      del.setAttribute("aria-label", `Delete team ${team.name}`);
      del.addEventListener("click", () => removeTeam(team));
      li.append(del);
    }
    return li;
  }

  /**
   * Run an action, show the list again, then why the action failed: the reload clears the
   * page's error, which would take the reason away before it could be read.
   * @param {() => Promise<void>} action
   */
  async function acted(action) {
    /** @type {unknown} */
    let failed = null;
    try {
      await action();
    } catch (error) {
      failed = error;
    }
    await load();
    if (failed) showMessage(pageError, message(failed));
  }

  /**
   * @param {Team} team
   * @param {Member} member
   * @param {string} role
   */
  async function changeRole(team, member, role) {
    await acted(async () => {
      await api(`/teams/${enc(team.id)}/members/${enc(member.user_id)}`, { method: "PATCH", body: { role } });
      showMessage(status, `${member.email} is now ${role} of ${team.name}.`);
    });
  }

  /**
   * @param {Team} team
   * @param {Member} member
   * @param {boolean} leaving
   */
  async function remove(team, member, leaving) {
    const ok = await confirm({
      title: leaving ? `Leave ${team.name}?` : `Remove ${member.email}?`,
      message: leaving ? "You lose access to the team and its keys' list at once. The team's keys keep working."
                       : "They lose access to the team at once. The team's keys keep working.",
      action: leaving ? "Leave" : "Remove",
      danger: true,
    });
    if (!ok) return;
    await acted(async () => {
      await api(`/teams/${enc(team.id)}/members/${enc(member.user_id)}`, { method: "DELETE" });
      showMessage(status, leaving ? `You left ${team.name}.` : `${member.email} removed from ${team.name}.`);
    });
  }

  /** @param {Team} team */
  async function removeTeam(team) {
    const ok = await confirm({ title: `Delete ${team.name}?`, danger: true, action: "Delete team",
      message: "Every key of the team stops working at once. This cannot be undone." });
    if (!ok) return;
    await acted(async () => {
      await api(`/teams/${enc(team.id)}`, { method: "DELETE" });
      showMessage(status, `Team ${team.name} deleted.`);
    });
  }

  const create = find(main, "#team-create", HTMLFormElement);
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(create);
    const name = field(create, "name", HTMLInputElement).value.trim();
    try {
      const team = /** @type {Team} */ (await busy(create, () => api("/teams", { method: "POST", body: { name } })));
      create.reset();
      showMessage(status, `Team ${team.name} created; you are its owner.`);
      await load();
    } catch (error) {
      showErrors(create, error);
    }
  });

  await load();
}
