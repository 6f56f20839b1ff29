// @ts-check
// Two-factor: set up (QR from the API as an <img> data: URI, allowed by img-src), enable
// with a code, show the recovery codes once, disable with password and code. Setup and
// enable are sudo mode: the password typed at setup is sent again with the code at enable
// (it stays in this page's memory only until then).
import { api } from "../api.js";
import { copyText, open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, proof, showErrors, showMessage } from "../forms.js";
/** @import { RecoveryCodes, TotpSetup } from "../api.js" */
/** @import { Context } from "../app.js" */

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { loadMe }) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const status = $("#tf-status");
  const pageError = $("#tf-error");
  const enableForm = find(main, "#tf-enable-form", HTMLFormElement);
  const disableForm = find(main, "#tf-disable-form", HTMLFormElement);
  const setupForm = find(main, "#tf-setup-form", HTMLFormElement);
  const enableCode = field(enableForm, "totp_code", HTMLInputElement);
  let password = "";

  /** @param {boolean} enabled */
  function show(enabled) {
    $("#tf-loading").hidden = true;
    $("#tf-off").hidden = enabled;
    $("#tf-on").hidden = !enabled;
    enableForm.hidden = true;
    setupForm.hidden = false;
    password = "";
  }

  setupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(pageError, "");
    clearErrors(setupForm);
    try {
      const body = proof(setupForm);
      const setup = /** @type {TotpSetup} */ (
        await busy(setupForm, () => api("/auth/totp/setup", { method: "POST", body })));
      password = body.current_password;
      setupForm.reset();
      find(main, "#tf-qr", HTMLImageElement).src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
      $("#tf-secret").textContent = setup.secret;
      setupForm.hidden = true;
      enableForm.hidden = false;
      clearErrors(enableForm);
      enableCode.focus();
    } catch (error) {
      showErrors(setupForm, error);
    }
  });

  enableForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(enableForm);
    try {
      const { recovery_codes: codes } = /** @type {RecoveryCodes} */ (await busy(enableForm, () => api("/auth/totp/enable", {
        method: "POST", body: { current_password: password,
                                totp_code: enableCode.value.trim() } })));
      enableForm.reset();
      password = "";
      showCodes(codes);
    } catch (error) {
      showErrors(enableForm, error);
    }
  });

  disableForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(disableForm);
    try {
      await busy(disableForm, () => api("/auth/totp/disable", { method: "POST", body: {
        password: field(disableForm, "password", HTMLInputElement).value,
        totp_code: field(disableForm, "totp_code", HTMLInputElement).value.trim() } }));
      disableForm.reset();
      show(false);
      showMessage(status, "Two-factor authentication is off.");
      await loadMe();
    } catch (error) {
      showErrors(disableForm, error);
    }
  });

  // --- recovery codes, shown once --------------------------------------------------------
  const dialog = find(main, "#recovery-dialog", HTMLDialogElement);
  const saved = find(main, "#recovery-saved", HTMLInputElement);
  const done = find(main, "#recovery-done", HTMLButtonElement);
  let codesText = "";

  /** @param {string[]} codes */
  function showCodes(codes) {
    codesText = codes.join("\n");
    $("#recovery-list").replaceChildren(...codes.map((code) => {
      const li = document.createElement("li");
      li.textContent = code;
      return li;
    }));
    saved.checked = false;
    done.disabled = true;
    $("#recovery-status").textContent = "";
    open(dialog);
    $("#recovery-copy").focus();
  }

  $("#recovery-copy").addEventListener("click", async () => {
    $("#recovery-status").textContent = await copyText(codesText)
      ? "Copied to the clipboard."
      : "Copying is blocked here: select the codes and copy them yourself.";
  });
  saved.addEventListener("change", () => { done.disabled = !saved.checked; });
  dialog.addEventListener("cancel", (event) => { if (!saved.checked) event.preventDefault(); });
  dialog.addEventListener("close", async () => {
    if (!saved.checked) { dialog.showModal(); return; }
    $("#recovery-list").replaceChildren();
    codesText = "";
    show(true);
    showMessage(status, "Two-factor authentication is on. You will be asked for a code when you sign in.");
    await loadMe();
  });
  done.addEventListener("click", () => { if (saved.checked) dialog.close(); });

  const me = await loadMe();
  show(me.totp_enabled);
}
