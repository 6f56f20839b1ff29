// A team's API keys: the personal keys page (same dialogs, same copy-once rule) on the team.
import { init as keys } from "./keys.js";
/** @import { Context } from "../app.js" */

/**
 * @param {HTMLElement} main
 * @param {Context} context
 */
export function init(main, context) {
  return keys(main, context, new URLSearchParams(location.search).get("team"));
}
