// @ts-check
// The sign-in form, on the sign-in page and in the "session ended" dialog alike:
// email and password first, then a code step when the API answers mfa_required.
import { ApiError, login } from "./api.js";
import { field, find } from "./dom.js";
import { busy, clearErrors, showErrors } from "./forms.js";

/**
 * Wire `form`; `onSignedIn(email)` runs after a successful sign-in. Returns a reset().
 * @param {HTMLFormElement} form
 * @param {(email: string) => Promise<void>} onSignedIn
 * @returns {() => void}
 */
export function wireSignin(form, onSignedIn) {
  const credentials = find(form, '[data-step="credentials"]', HTMLElement);
  const code = find(form, '[data-step="code"]', HTMLElement);
  const back = find(form, '[data-action="back"]', HTMLButtonElement);
  const submit = find(form, 'button[type="submit"]', HTMLButtonElement);
  const codeInput = field(form, "totp_code", HTMLInputElement);
  const emailInput = field(form, "email", HTMLInputElement);
  const passwordInput = field(form, "password", HTMLInputElement);

  /** @param {"credentials" | "code"} name */
  const step = (name) => {
    const onCode = name === "code";
    credentials.hidden = onCode;
    code.hidden = !onCode;
    back.hidden = !onCode;
    submit.textContent = (onCode ? submit.dataset.labelCode : submit.dataset.labelCredentials) ?? "";
    if (!onCode) codeInput.value = "";
    (onCode ? codeInput : emailInput).focus();
  };

  back.addEventListener("click", () => { clearErrors(form); step("credentials"); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = emailInput.value.trim();
    const onCode = !code.hidden;
    try {
      await busy(form, () => login(email, passwordInput.value,
                                   onCode ? codeInput.value.trim() : null));
    } catch (error) {
      const failed = error instanceof ApiError ? error.code : null;
      if (failed === "mfa_required") { step("code"); return; }
      if (failed === "invalid_credentials" && onCode) step("credentials");
      showErrors(form, error);
      return;
    }
    passwordInput.value = "";
    step("credentials");
    await onSignedIn(email);
  });

  return () => { clearErrors(form); step("credentials"); };
}
