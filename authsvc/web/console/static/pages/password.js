// @ts-check
// Change password: the API checks the current one and the policy; we only check the retype.
import { api } from "../api.js";
import { field, find } from "../dom.js";
import { busy, clearErrors, proof, proofFields, showErrors, showMessage } from "../forms.js";
/** @import { Context } from "../app.js" */

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export async function init(main, { me: known, loadMe }) {
  const me = known ?? await loadMe();
  const form = find(main, "#password-form", HTMLFormElement);
  const status = find(main, "#password-status", HTMLElement);
  const username = field(form, "username", HTMLInputElement);
  username.value = me.email;
  proofFields(form, me);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    showMessage(status, "");
    const fresh = field(form, "new_password", HTMLInputElement);
    const again = field(form, "confirm_password", HTMLInputElement);
    if (fresh.value !== again.value) {
      showErrors(form, { errors: [{ attr: "confirm_password", detail: "The two new passwords are not the same." }] });
      return;
    }
    try {
      await busy(form, () => api("/auth/password", { method: "POST",
        body: { ...proof(form), new_password: fresh.value } }));
      form.reset();
      username.value = me.email;
      showMessage(status, "Password changed. Your other sessions were signed out and your API keys were revoked.");
    } catch (error) {
      showErrors(form, error);
    }
  });
}
