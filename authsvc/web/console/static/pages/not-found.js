// @ts-check
// The console's 404 page: nothing to load; the page itself links back.

export async function init() {}
