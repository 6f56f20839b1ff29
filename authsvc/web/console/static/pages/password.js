// Change password: the API checks the current one and the policy; we only check the retype.
import { api } from "../api.js";
import { busy, clearErrors, showErrors, showMessage } from "../forms.js";

export async function init(main, { me }) {
  const form = main.querySelector("#password-form");
  const status = main.querySelector("#password-status");
  form.elements.username.value = me.email;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    showMessage(status, "");
    const { current_password: current, new_password: fresh, confirm_password: again } = form.elements;
    if (fresh.value !== again.value) {
      showErrors(form, { errors: [{ attr: "confirm_password", detail: "The two new passwords are not the same." }] });
      return;
    }
    try {
      await busy(form, () => api("/auth/password", { method: "POST",
        body: { current_password: current.value, new_password: fresh.value } }));
      form.reset();
      form.elements.username.value = me.email;
      showMessage(status, "Password changed. Your other sessions were signed out and your API keys were revoked.");
    } catch (error) {
      showErrors(form, error);
    }
  });
}
