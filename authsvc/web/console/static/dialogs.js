// Native <dialog>: Escape and focus trapping come from the browser; focus goes back on close.

export function open(dialog) {
  const opener = document.activeElement;
  dialog.addEventListener("close", () => { if (opener?.isConnected) opener.focus(); }, { once: true });
  dialog.showModal();
}

/** Ask a yes/no question; resolves true only when the confirm button was pressed. */
export function confirm({ title, message, action, danger = false }) {
  const dialog = document.getElementById("confirm-dialog");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").textContent = message;
  ok.textContent = action;
  ok.className = danger ? "danger" : "primary";
  return new Promise((resolve) => {
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

/** Copy text to the clipboard; falls back to selecting it in `input` for the user to copy. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) { input.focus(); input.select(); }
    try { return document.execCommand("copy"); } catch { return false; }
  }
}
