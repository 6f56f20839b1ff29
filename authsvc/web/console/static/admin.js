// @ts-check
// What the administrators' pages share: the admin API's answers and a small element builder.

/**
 * @typedef {object} AdminUser GET /users, /users/{id}
 * @property {string} id
 * @property {string} email
 * @property {string[]} scopes
 * @property {boolean} is_admin
 * @property {boolean} is_active
 * @property {boolean} totp_enabled
 * @property {string} created_at
 */
/**
 * @typedef {object} AuditEvent
 * @property {string} id
 * @property {string} at
 * @property {string} type
 * @property {string | null} user_id
 * @property {string | null} ip
 * @property {string | null} user_agent
 * @property {Record<string, unknown>} detail
 */
/** @typedef {{ items: AuditEvent[], next: string | null }} AuditPage */
/**
 * @typedef {object} Team GET /teams?all=true
 * @property {string} id
 * @property {string} name
 * @property {string[]} scopes
 * @property {string} created_at
 * @property {string | null} role
 */
/** @typedef {{ user_id: string, email: string, role: string, added_at: string }} Member */

/**
 * A new element with its text and properties.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [text]
 * @param {Partial<HTMLElementTagNameMap[K]>} [props]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, text = "", props = {}) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  Object.assign(node, props);
  return node;
}

/**
 * A table cell; `label` is what the phone layout shows before its value.
 * @param {string} label
 * @param {string | Node} content
 * @returns {HTMLTableCellElement}
 */
export function cell(label, content) {
  const td = el("td");
  td.dataset.label = label;
  td.append(content);
  return td;
}

/**
 * A button; `name` is its accessible name when it differs from its text.
 * @param {string} text
 * @param {() => void} onClick
 * @param {{ name?: string, danger?: boolean }} [options]
 * @returns {HTMLButtonElement}
 */
export function button(text, onClick, { name, danger = false } = {}) {
  const b = el("button", text, { type: "button" });
  if (danger) b.className = "danger";
  if (name) b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

/**
 * Space-separated words, as the scope fields take them.
 * @param {string} text
 * @returns {string[]}
 */
export const words = (text) => text.split(/\s+/).filter(Boolean);
