// The sign-in form, on the sign-in page and in the "session ended" dialog alike:
// email and password first, then a code step when the API answers mfa_required.
import { login } from "./api.js";
import { busy, clearErrors, showErrors } from "./forms.js";

/** Wire `form`; `onSignedIn(email)` runs after a successful sign-in. Returns a reset(). */
export function wireSignin(form, onSignedIn) {
  const credentials = form.querySelector('[data-step="credentials"]');
  const code = form.querySelector('[data-step="code"]');
  const back = form.querySelector('[data-action="back"]');
  const submit = form.querySelector('button[type="submit"]');
  const codeInput = form.elements.totp_code;

  const step = (name) => {
    const onCode = name === "code";
    credentials.hidden = onCode;
    code.hidden = !onCode;
    back.hidden = !onCode;
    submit.textContent = onCode ? submit.dataset.labelCode : submit.dataset.labelCredentials;
    if (!onCode) codeInput.value = "";
    (onCode ? codeInput : form.elements.email).focus();
  };

  back.addEventListener("click", () => { clearErrors(form); step("credentials"); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    const onCode = !code.hidden;
    try {
      await busy(form, () => login(email, form.elements.password.value,
                                   onCode ? codeInput.value.trim() : null));
    } catch (error) {
      if (error.code === "mfa_required") { step("code"); return; }
      if (error.code === "invalid_credentials" && onCode) step("credentials");
      showErrors(form, error);
      return;
    }
    form.elements.password.value = "";
    step("credentials");
    await onSignedIn(email);
  });

  return () => { clearErrors(form); step("credentials"); };
}
