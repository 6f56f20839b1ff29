// Showing the API's errors as sentences next to the field its `attr` names.

function slots(form, attr) {
  const field = (attr ?? "").split(".")[0];
  return [...form.querySelectorAll("[data-error-for]")]
    .filter((el) => el.dataset.errorFor.split(" ").includes(field) || (!field && el.dataset.errorFor === ""));
}

function controls(form, attr) {
  const field = (attr ?? "").split(".")[0];
  return field ? [...form.querySelectorAll(`[name="${CSS.escape(field)}"]`)] : [];
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) { el.textContent = ""; el.hidden = true; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function sentence(text) {
  const t = (text ?? "").trim();
  if (!t) return "Something went wrong. Try again.";
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Put each error next to its field (or at the top of the form) and focus the first one. */
export function showErrors(form, error) {
  clearErrors(form);
  let first = null;
  for (const item of error.errors ?? [{ detail: String(error.message ?? error) }]) {
    let targets = slots(form, item.attr);
    const inputs = controls(form, item.attr);
    if (!targets.length) targets = slots(form, null);
    for (const el of targets) {
      el.textContent = el.textContent ? `${el.textContent} ${sentence(item.detail)}` : sentence(item.detail);
      el.hidden = false;
    }
    for (const input of inputs) input.setAttribute("aria-invalid", "true");
    first ??= inputs.find((el) => !el.disabled) ?? null;
  }
  if (first) first.focus();
  else slots(form, null)[0]?.focus?.();
}

export function showMessage(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

/** Run `task` with the form's buttons disabled, so a double click sends one request. */
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

/** A <time> element for an RFC 3339 instant, or `fallback` text when there is none. */
export function timeEl(iso, { withTime = false, fallback = "—" } = {}) {
  if (!iso) { const span = document.createElement("span"); span.textContent = fallback; return span; }
  const el = document.createElement("time");
  const when = new Date(iso);
  el.dateTime = iso;
  el.textContent = (withTime ? dateTime : dateOnly).format(when);
  el.title = dateTime.format(when);
  return el;
}
