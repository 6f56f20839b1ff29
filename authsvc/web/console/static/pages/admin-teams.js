// @ts-check
// Every team (administrators): members and roles to read, and the team's scopes to set, which
// only a service administrator may do. Membership and keys stay with the team's owners.
import { api } from "../api.js";
import { find } from "../dom.js";
import { busy, clearErrors, message, showErrors, showMessage, timeEl } from "../forms.js";
import { el, words } from "../admin.js";
/** @import { Member, Team } from "../admin.js" */
/** @import { Page } from "../api.js" */

/** @param {HTMLElement} main */
export async function init(main) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const list = $("#admin-teams-list");
  const pageError = $("#admin-teams-error");
  const status = $("#admin-teams-status");
  const enc = encodeURIComponent;

  async function load() {
    try {
      const { items } = /** @type {Page<Team>} */ (await api("/teams?all=true"));
      const cards = await Promise.all(items.map(card));
      list.replaceChildren(...cards);
      $("#admin-teams-empty").hidden = items.length > 0;
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#admin-teams-loading").hidden = true;
    }
  }

  /**
   * @param {Team} team
   * @returns {Promise<HTMLLIElement>}
   */
  async function card(team) {
    const li = el("li", "", { className: "card team" });
    li.dataset.teamId = team.id;
    const since = el("p", "Created ", { className: "hint" });
    since.append(timeEl(team.created_at), team.role ? `; you are its ${team.role}.` : "; you are not a member.");
    li.append(el("h2", team.name), since);

    const { items: members } = /** @type {Page<Member>} */ (await api(`/teams/${enc(team.id)}/members`));
    const table = el("table", "", { className: "responsive members" });
    table.append(el("caption", `Members of ${team.name}`, { className: "visually-hidden" }));
    const head = el("tr");
    for (const h of ["Email", "Role", "Added"]) head.append(el("th", h, { scope: "col" }));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    for (const m of members) {
      const tr = el("tr");
      const added = el("td");
      added.dataset.label = "Added";
      added.append(timeEl(m.added_at));
      const role = el("td", m.role);
      role.dataset.label = "Role";
      tr.append(el("th", m.email, { scope: "row" }), role, added);
      tbody.append(tr);
    }
    table.append(thead, tbody);
    li.append(table);

    const form = el("form", "", { className: "team-scopes", noValidate: true });
    const id = `team-${team.id}-scopes`;
    const formError = el("p", "", { className: "form-error", hidden: true });
    formError.setAttribute("role", "alert");
    formError.dataset.errorFor = "";
    const input = el("input", "", { id, name: "scopes", type: "text", autocomplete: "off", spellcheck: false,
                                    value: team.scopes.join(" ") });
    const error = el("p", "", { className: "field-error", hidden: true, id: `${id}-error` });
    error.dataset.errorFor = "scopes";
    input.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
    const wrap = el("div", "", { className: "field" });
    wrap.append(el("label", `Scopes of ${team.name}`, { htmlFor: id }), input,
                el("p", "Team keys may carry only these; a team never holds admin.", { className: "hint", id: `${id}-hint` }),
                error);
    const actions = el("div", "", { className: "actions" });
    actions.append(el("button", "Save scopes", { type: "submit", className: "primary" }));
    form.append(formError, wrap, actions);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      try {
        const saved = /** @type {Team} */ (await busy(form, () => api(`/teams/${enc(team.id)}`,
          { method: "PATCH", body: { scopes: words(input.value) } })));
        input.value = saved.scopes.join(" ");
        showMessage(status, `The scopes of ${saved.name} were saved.`);
      } catch (err) { showErrors(form, err); }
    });
    li.append(form);
    return li;
  }

  await load();
}
