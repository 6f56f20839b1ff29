// @ts-check
// Sessions: where you are signed in; sign one out, or all of them.
import { api, forget } from "../api.js";
import { confirm } from "../dialogs.js";
import { find } from "../dom.js";
import { message, showMessage, timeEl } from "../forms.js";
/** @import { Page, Session } from "../api.js" */
/** @import { Context } from "../app.js" */

/**
 * The browser and system a User-Agent names, in words.
 * @param {string | null} agent
 * @returns {string}
 */
function device(agent) {
  if (!agent) return "Unknown device";
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox"
    : /Chrom(e|ium)\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : null;
  const os = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS"
    : /Windows/.test(agent) ? "Windows" : /Mac OS X/.test(agent) ? "macOS" : /Linux/.test(agent) ? "Linux" : null;
  return browser && os ? `${browser} on ${os}` : browser ?? os ?? agent.slice(0, 60);
}

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { navigate }) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const list = $("#sessions-list");
  const pageError = $("#sessions-error");
  const status = $("#sessions-status");

  /** @param {"session" | "everywhere"} why */
  const ended = async (why) => {
    await forget();
    await navigate(`/console/signin?signed_out=${why}`);
  };

  async function load() {
    try {
      const { items } = /** @type {Page<Session>} */ (await api("/auth/sessions"));
      render(items);
    } catch (error) {
      showMessage(pageError, message(error));
    } finally {
      $("#sessions-loading").hidden = true;
    }
  }

  /**
   * @param {string} label
   * @param {string | Node} content
   * @returns {[HTMLElement, HTMLElement]}
   */
  function line(label, content) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.append(content);
    return [dt, dd];
  }

  /** @param {Session[]} items */
  function render(items) {
    list.replaceChildren();
    for (const s of items) {
      const li = document.createElement("li");
      li.className = "session card";
      li.dataset.id = s.id;
      const head = document.createElement("h2");
      head.textContent = device(s.user_agent);
      if (s.current) {
        const badge = document.createElement("span");
        badge.className = "badge on";
        badge.textContent = "This session";
        head.append(" ", badge);
      }
      const facts = document.createElement("dl");
      facts.append(...line("Address", s.ip ?? "unknown"),
                   ...line("Signed in", timeEl(s.created_at, { withTime: true })),
                   ...line("Last active", timeEl(s.last_used_at, { withTime: true })));
      const out = document.createElement("button");
      out.type = "button";
      out.textContent = "Sign out";
      out.setAttribute("aria-label", `Sign out ${device(s.user_agent)}${s.current ? " (this session)" : ""}`);
      out.addEventListener("click", () => signOutOne(s));
      li.append(head, facts, out);
      list.append(li);
    }
  }

  /** @param {Session} s */
  async function signOutOne(s) {
    try {
      await api(`/auth/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
      if (s.current) { await ended("session"); return; }
      showMessage(status, `Signed out ${device(s.user_agent)}.`);
      await load();
    } catch (error) {
      showMessage(pageError, message(error));
    }
  }

  $("#sign-out-all").addEventListener("click", async () => {
    const ok = await confirm({
      title: "Sign out everywhere?",
      message: "Every session ends at once, this one included. API keys are not affected.",
      action: "Sign out everywhere",
      danger: true,
    });
    if (!ok) return;
    try {
      await api("/auth/sessions", { method: "DELETE" });
      await ended("everywhere");
    } catch (error) {
      showMessage(pageError, message(error));
    }
  });

  await load();
}
