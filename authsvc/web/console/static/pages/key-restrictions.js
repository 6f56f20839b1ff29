// @ts-check
// A key's restrictions (issue 22): the create dialog's addresses and limit, and the row's summary.
import { field } from "../dom.js";
/** @import { PrivateToken } from "../api.js" */

/**
 * The restriction fields of the create form, as the API takes them (absent when left empty).
 * @param {HTMLFormElement} form
 * @returns {{ allowed_ips?: string[], rate_limit?: string }}
 */
export function restrictionBody(form) {
  /** @type {{ allowed_ips?: string[], rate_limit?: string }} */
  const body = {};
  const ips = field(form, "allowed_ips", HTMLTextAreaElement).value
    .split("\n").map((line) => line.trim()).filter(Boolean);
  if (ips.length) body.allowed_ips = ips;
  const amount = field(form, "rate_limit", HTMLInputElement).value.trim();
  if (amount) body.rate_limit = `${amount}/${field(form, "rate_unit", HTMLSelectElement).value}`;
  return body;
}

/**
 * What the key's row shows of its restrictions: a "Restricted" badge, its addresses and limit.
 * @param {PrivateToken} key
 * @returns {HTMLElement | null}
 */
export function restrictionSummary(key) {
  const ips = key.allowed_ips ?? [];
  if (!ips.length && !key.rate_limit) return null;
  const box = document.createElement("span");
  box.className = "sub restrictions";
  const badge = document.createElement("span");
  badge.className = "badge restricted";
  badge.textContent = "Restricted";
  const parts = [];
  if (ips.length) parts.push(`from ${ips.join(", ")}`);
  if (key.rate_limit) parts.push(`at most ${key.rate_limit.replace("/", " per ")}`);
  box.append(badge, ` ${parts.join("; ")}`);
  return box;
}

/**
 * "Last used" with the address it was used from, when known.
 * @param {PrivateToken} key
 * @returns {string}
 */
export function lastUsedFrom(key) {
  return key.last_used_ip ? `from ${key.last_used_ip}` : "";
}

/**
 * The edit form's limit as PATCH takes it: the new value (null: none), or undefined when
 * unchanged, so that saving a rename sends nothing about the limit.
 * @param {HTMLFormElement} form
 * @param {PrivateToken} key
 * @returns {string | null | undefined}
 */
export function editedRateLimit(form, key) {
  const amount = field(form, "rate_limit", HTMLInputElement).value.trim();
  const wanted = amount ? `${amount}/${field(form, "rate_unit", HTMLSelectElement).value}` : null;
  return wanted === (key.rate_limit ?? null) ? undefined : wanted;
}

/**
 * Fill the edit form's limit from the key's (`"100/minute"`); a limit the console cannot show
 * as a number per hour or minute (set through the API) is shown as it is, and kept unless changed.
 * @param {HTMLFormElement} form
 * @param {PrivateToken} key
 */
export function fillRateLimit(form, key) {
  const amount = field(form, "rate_limit", HTMLInputElement);
  const unit = field(form, "rate_unit", HTMLSelectElement);
  const match = /^(\d+)\/(hour|minute)$/.exec(key.rate_limit ?? "");
  if (match) {
    amount.value = match[1];
    unit.value = match[2];
  } else if (key.rate_limit) {
    amount.placeholder = key.rate_limit;
  }
}
