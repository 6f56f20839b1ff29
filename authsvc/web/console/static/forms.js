// @ts-check
// Showing the API's errors as sentences next to the field its `attr` names.
/** @import { Me } from "./api.js" */
import { field, findAll } from "./dom.js";

/**
 * What showErrors shows: an API error, or anything with `errors` in the envelope's shape.
 * @typedef {{ detail: string, attr?: string | null }} Shown
 */

/**
 * @param {HTMLFormElement} form
 * @param {string | null | undefined} attr
 * @returns {HTMLElement[]}
 */
function slots(form, attr) {
  const name = (attr ?? "").split(".")[0];
  return findAll(form, "[data-error-for]", HTMLElement)
    .filter((el) => (el.dataset.errorFor ?? "").split(" ").includes(name) || (!name && el.dataset.errorFor === ""));
}

/**
 * @param {HTMLFormElement} form
 * @param {string | null | undefined} attr
 * @returns {Element[]}
 */
function controls(form, attr) {
  const name = (attr ?? "").split(".")[0];
  return name ? [...form.querySelectorAll(`[name="${CSS.escape(name)}"]`)] : [];
}

/** @param {HTMLFormElement} form */
export function clearErrors(form) {
  for (const el of findAll(form, "[data-error-for]", HTMLElement)) { el.textContent = ""; el.hidden = true; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/**
 * @param {string | null | undefined} text
 * @returns {string}
 */
function sentence(text) {
  const t = (text ?? "").trim();
  if (!t) return "Something went wrong. Try again.";
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/**
 * The entries to show for `error`: its envelope's, or one made of its message.
 * @param {unknown} error
 * @returns {Shown[]}
 */
function problems(error) {
  if (typeof error !== "object" || error === null) return [{ detail: String(error) }];
  const { errors, message } = /** @type {{ errors?: Shown[] | null, message?: unknown }} */ (error);
  return errors ?? [{ detail: String(message ?? error) }];
}

/**
 * Put each error next to its field (or at the top of the form) and focus the first one.
 * @param {HTMLFormElement} form
 * @param {unknown} error an ApiError, or `{ errors: [{ attr, detail }] }`
 */
export function showErrors(form, error) {
  clearErrors(form);
  for (const item of problems(error)) {
    let targets = slots(form, item.attr);
    const inputs = controls(form, item.attr);
    if (!targets.length) targets = slots(form, null);
    for (const el of targets) {
      el.textContent = el.textContent ? `${el.textContent} ${sentence(item.detail)}` : sentence(item.detail);
      el.hidden = false;
    }
    for (const input of inputs) input.setAttribute("aria-invalid", "true");
  }
  // The first bad field in the form's order, whatever order the API listed them in.
  const first = findAll(form, '[aria-invalid="true"]', HTMLElement)
    .find((el) => !("disabled" in el && el.disabled)) ?? null;
  if (first) first.focus();
  else slots(form, null)[0]?.focus?.();
}

/**
 * Sudo mode: show the two-factor code field only where two-factor is on.
 * @param {HTMLFormElement} form
 * @param {Me} me
 */
export function proofFields(form, me) {
  for (const el of findAll(form, "[data-totp-only]", HTMLElement)) el.hidden = !me.totp_enabled;
}

/**
 * @typedef {{ current_password: string, totp_code?: string }} Proof
 */

/**
 * The proof a sensitive change sends: the password, and the code when that field is shown.
 * @param {HTMLFormElement} form
 * @returns {Proof}
 */
export function proof(form) {
  /** @type {Proof} */
  const body = { current_password: field(form, "current_password", HTMLInputElement).value };
  const code = form.querySelector("[data-totp-only]:not([hidden]) [name=totp_code]");
  if (code instanceof HTMLInputElement && code.value.trim()) body.totp_code = code.value.trim();
  return body;
}

/**
 * The sentence a caught error shows in a page's alert.
 * @param {unknown} error
 * @returns {string}
 */
export function message(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * @param {HTMLElement} el
 * @param {string} text shown, or hides `el` when empty
 */
export function showMessage(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

/**
 * Run `task` with the form's buttons disabled, so a double click sends one request.
 * @template T
 * @param {HTMLFormElement} form
 * @param {() => Promise<T>} task
 * @returns {Promise<T>}
 */
export async function busy(form, task) {
  const buttons = [...form.querySelectorAll("button")];
  const before = buttons.map((b) => b.disabled);
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute("aria-busy", "true");
  try {
    return await task();
  } finally {
    buttons.forEach((b, i) => { b.disabled = before[i]; });
    form.removeAttribute("aria-busy");
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/**
 * A <time> element for an RFC 3339 instant, or `fallback` text when there is none.
 * @param {string | null | undefined} iso
 * @param {{ withTime?: boolean, fallback?: string }} [options]
 * @returns {HTMLElement}
 */
export function timeEl(iso, { withTime = false, fallback = "—" } = {}) {
  if (!iso) { const span = document.createElement("span"); span.textContent = fallback; return span; }
  const el = document.createElement("time");
  const when = new Date(iso);
  el.dateTime = iso;
  el.textContent = (withTime ? dateTime : dateOnly).format(when);
  el.title = dateTime.format(when);
  return el;
}
