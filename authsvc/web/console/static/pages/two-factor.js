// Two-factor: set up (QR from the API as an <img> data: URI, allowed by img-src), enable
// with a code, show the recovery codes once, disable with password and code.
import { api } from "../api.js";
import { copyText, open } from "../dialogs.js";
import { busy, clearErrors, showErrors, showMessage } from "../forms.js";

export async function init(main, { loadMe }) {
  const $ = (sel) => main.querySelector(sel);
  const status = $("#tf-status");
  const pageError = $("#tf-error");
  const enableForm = $("#tf-enable-form");
  const disableForm = $("#tf-disable-form");

  function show(enabled) {
    $("#tf-loading").hidden = true;
    $("#tf-off").hidden = enabled;
    $("#tf-on").hidden = !enabled;
    enableForm.hidden = true;
    $("#tf-start").hidden = false;
  }

  $("#tf-start").addEventListener("click", async (event) => {
    showMessage(pageError, "");
    try {
      const setup = await busy(event.target.parentElement, () => api("/auth/totp/setup", { method: "POST" }));
      $("#tf-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
      $("#tf-secret").textContent = setup.secret;
      $("#tf-start").hidden = true;
      enableForm.hidden = false;
      clearErrors(enableForm);
      enableForm.elements.totp_code.focus();
    } catch (error) {
      showMessage(pageError, error.message);
    }
  });

  enableForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(enableForm);
    try {
      const { recovery_codes: codes } = await busy(enableForm, () => api("/auth/totp/enable", {
        method: "POST", body: { totp_code: enableForm.elements.totp_code.value.trim() } }));
      enableForm.reset();
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
        password: disableForm.elements.password.value,
        totp_code: disableForm.elements.totp_code.value.trim() } }));
      disableForm.reset();
      show(false);
      showMessage(status, "Two-factor authentication is off.");
      await loadMe();
    } catch (error) {
      showErrors(disableForm, error);
    }
  });

  // --- recovery codes, shown once --------------------------------------------------------
  const dialog = $("#recovery-dialog");
  const saved = $("#recovery-saved");
  const done = $("#recovery-done");
  let codesText = "";

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
