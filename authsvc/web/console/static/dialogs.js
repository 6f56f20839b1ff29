// @ts-check
// Native <dialog>: Escape and focus trapping come from the browser; focus goes back on close.
import { find } from "./dom.js";

/** @param {HTMLDialogElement} dialog */
export function open(dialog) {
  const opener = document.activeElement;
  dialog.addEventListener("close", () => {
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  }, { once: true });
  dialog.showModal();
}

/**
 * Ask a yes/no question; resolves true only when the confirm button was pressed.
 * @param {{ title: string, message: string, action: string, danger?: boolean }} question
 * @returns {Promise<boolean>}
 */
export function confirm({ title, message, action, danger = false }) {
  const dialog = find(document, "#confirm-dialog", HTMLDialogElement);
  const ok = find(document, "#confirm-ok", HTMLButtonElement);
  const cancel = find(document, "#confirm-cancel", HTMLButtonElement);
  find(document, "#confirm-title", HTMLElement).textContent = title;
  find(document, "#confirm-message", HTMLElement).textContent = message;
  ok.textContent = action;
  ok.className = danger ? "danger" : "primary";
  return new Promise((resolve) => {
    /** @param {string} answer */
    const done = (answer) => () => { dialog.returnValue = answer; dialog.close(); };
    const onOk = done("ok");
    const onCancel = done("cancel");
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("close", () => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      resolve(dialog.returnValue === "ok");
    }, { once: true });
    dialog.returnValue = "";
    open(dialog);
    cancel.focus();
  });
}

/**
 * Copy text to the clipboard; falls back to selecting it in `input` for the user to copy.
 * @param {string} text
 * @param {HTMLInputElement} [input]
 * @returns {Promise<boolean>}
 */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) { input.focus(); input.select(); }
    try { return document.execCommand("copy"); } catch { return false; }
  }
}
