// @ts-check
// Two-factor: set up (QR from the API as an <img> data: URI, allowed by img-src), enable
// with a code, show the recovery codes once, disable with password and code. Setup and
// enable are sudo mode: the password typed at setup is sent again with the code at enable
// (it stays in this page's memory only until then). With two-factor on, the page says how
// many recovery codes are left and makes new ones (password + code; the old ones die).
import { api } from "../api.js";
import { copyText, open } from "../dialogs.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, proof, showErrors, showMessage } from "../forms.js";
/** @import { RecoveryCodes, TotpSetup, TotpStatus } from "../api.js" */
/** @import { Context } from "../app.js" */

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { loadMe, holdLeaving }) {
  /** @param {string} sel */
  const $ = (sel) => find(main, sel, HTMLElement);
  const status = $("#tf-status");
  const pageError = $("#tf-error");
  const enableForm = find(main, "#tf-enable-form", HTMLFormElement);
  const disableForm = find(main, "#tf-disable-form", HTMLFormElement);
  const setupForm = find(main, "#tf-setup-form", HTMLFormElement);
  const enableCode = field(enableForm, "totp_code", HTMLInputElement);
  let password = "";

  const codesForm = find(main, "#tf-codes-form", HTMLFormElement);

  /** @param {boolean} enabled */
  function show(enabled) {
    $("#tf-loading").hidden = true;
    $("#tf-off").hidden = enabled;
    $("#tf-on").hidden = !enabled;
    enableForm.hidden = true;
    setupForm.hidden = false;
    password = "";
    if (enabled) countCodes();
  }

  async function countCodes() {
    const left = $("#tf-codes-left");
    try {
      const { recovery_codes_left: n } = /** @type {TotpStatus} */ (await api("/auth/totp"));
      left.textContent = n === null ? "" : n === 0
        ? "You have no unused recovery codes left. Generate new ones now."
        : `You have ${n} unused recovery code${n === 1 ? "" : "s"} left.`;
      left.className = n !== null && n <= 3 ? "warning" : "";
    } catch {
      left.textContent = "";
    }
  }

  codesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(codesForm);
    try {
      const body = proof(codesForm);
      // The code field is always shown here: two-factor is on.
      body.totp_code = field(codesForm, "totp_code", HTMLInputElement).value.trim();
      const { recovery_codes: codes } = /** @type {RecoveryCodes} */ (await busy(codesForm, () =>
        api("/auth/totp/recovery-codes", { method: "POST", body })));
      codesForm.reset();
      afterCodes = "New recovery codes made; the old ones no longer work.";
      showCodes(codes);
    } catch (error) {
      showErrors(codesForm, error);
    }
  });

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
      afterCodes = "Two-factor authentication is on. You will be asked for a code when you sign in.";
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
  let afterCodes = "";

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
    holdLeaving("These recovery codes are shown only once. Leave without saving them?");
    open(dialog);
    $("#recovery-copy").focus();
  }

  $("#recovery-copy").addEventListener("click", async () => {
    $("#recovery-status").textContent = await copyText(codesText)
      ? "Copied to the clipboard."
      : "Copying is blocked here: select the codes and copy them yourself.";
  });
  $("#recovery-download").addEventListener("click", () => {
    const text = `authsvc recovery codes for ${me?.email ?? "your account"}\n`
      + "Each code signs you in once, in place of a two-factor code.\n\n"
      + `${codesText}\n`;
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "authsvc-recovery-codes.txt";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    $("#recovery-status").textContent = "Downloaded as authsvc-recovery-codes.txt.";
  });
  // The print stylesheet shows only the codes.
  $("#recovery-print").addEventListener("click", () => { window.print(); });
  saved.addEventListener("change", () => { done.disabled = !saved.checked; });
  dialog.addEventListener("cancel", (event) => { if (!saved.checked) event.preventDefault(); });
  dialog.addEventListener("close", async () => {
    if (!saved.checked) { dialog.showModal(); return; }
    $("#recovery-list").replaceChildren();
    codesText = "";
    holdLeaving(null);
    show(true);
    showMessage(status, afterCodes);
    await loadMe();
  });
  done.addEventListener("click", () => { if (saved.checked) dialog.close(); });

  const me = await loadMe();
  show(me.totp_enabled);
  return () => holdLeaving(null);
}
