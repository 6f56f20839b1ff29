// @ts-check
// Showing the API's errors as sentences next to the field its `attr` names.
/** @import { Me } from "./api.js" */
import { field, findAll } from "./dom.js";

/**
 * What showErrors shows: an API error, or anything with `errors` in the envelope's shape.
 * @typedef {{ detail: string, code?: string, attr?: string | null,
 *             extra?: { retry_after?: number, [key: string]: unknown } | null }} Shown
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
 * "15 minutes", "40 seconds": how long `seconds` is, rounded up to what a person reads.
 * @param {number} seconds
 * @returns {string}
 */
export function duration(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.ceil(m / 60);
  return `${h} hour${h === 1 ? "" : "s"}`;
}

/**
 * What the person is told about a field: its slot's `data-label`, else its label's text.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {HTMLElement | undefined} slot
 * @returns {string}
 */
function labelOf(form, name, slot) {
  const given = slot?.closest("[data-label]");
  if (given instanceof HTMLElement && given.dataset.label) return given.dataset.label;
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  const label = control instanceof HTMLElement && control.id
    ? form.querySelector(`label[for="${CSS.escape(control.id)}"]`)
    : form.querySelector(`label[data-for="${CSS.escape(name)}"]`);
  const text = (label?.firstChild?.textContent ?? "").trim();
  return text || "This field";
}

/**
 * The limit a `too_long` names: the control's `data-max-length` (the API's limit, which
 * the templates also set as `maxlength`), else its `maxlength`.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {number | null}
 */
function maxLengthOf(form, name) {
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!(control instanceof HTMLInputElement || control instanceof HTMLTextAreaElement)) return null;
  const n = Number(control.dataset.maxLength) || control.maxLength;
  return n > 0 ? n : null;
}

// marshmallow's own sentences, which say nothing a person can act on.
const DEVELOPER = /^(Not a valid|This value is not valid|This field|Missing data|Field may not|Unknown field|Invalid)/;

/**
 * The contract's code and `attr` in plain words; a sentence the API wrote for people
 * (e.g. "Must be at most 365 days from now.") is kept.
 * @param {HTMLFormElement} form
 * @param {Shown} item
 * @param {HTMLElement | undefined} slot
 * @returns {string}
 */
export function plainWords(form, item, slot) {
  const name = (item.attr ?? "").split(".")[0];
  const retry = item.extra?.retry_after;
  if (item.code === "rate_limited") {
    return typeof retry === "number"
      ? `Too many attempts. Wait ${duration(retry)}, then try again.`
      : "Too many attempts. Wait a while, then try again.";
  }
  if (!name) return sentence(item.detail);
  const label = labelOf(form, name, slot);
  switch (item.code) {
    case "required": case "null": case "blank":
      return slot?.dataset.required ?? `${label} is required.`;
    case "too_long": {
      const max = maxLengthOf(form, name);
      return max ? `${label} can be at most ${max} characters.` : `${label} is too long.`;
    }
    case "read_only":
      return `${label} cannot be changed.`;
    case "invalid":
      if (!DEVELOPER.test(item.detail ?? "")) return sentence(item.detail);
      return slot?.dataset.invalid ?? `${label} is not valid.`;
    default:
      return sentence(item.detail);
  }
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
    const words = plainWords(form, item, targets[0]);
    for (const el of targets) {
      if (!el.textContent?.includes(words)) el.textContent = el.textContent ? `${el.textContent} ${words}` : words;
      el.hidden = false;
    }
    for (const input of inputs) input.setAttribute("aria-invalid", "true");
  }
  // The first bad field in the form's order, whatever order the API listed them in.
  const first = findAll(form, '[aria-invalid="true"]', HTMLElement)
    .find((el) => !("disabled" in el && el.disabled)) ?? null;
  if (first) { first.focus(); return; }
  const top = slots(form, null).find((el) => !el.hidden);
  if (top) { top.tabIndex = -1; top.focus(); }
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
