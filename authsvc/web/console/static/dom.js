// @ts-check
// Typed lookups in the page shells. The templates put every element the modules use on the
// page, so a missing one is a broken template: say so by name, rather than a TypeError later.

/**
 * The first element under `root` that matches `selector`; it must be a `type`.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function find(root, selector, type) {
  const el = root.querySelector(selector);
  if (!(el instanceof type)) throw new Error(`The page has no ${type.name} at ${selector}.`);
  return el;
}

/**
 * Every element under `root` that matches `selector` and is a `type`.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} type
 * @returns {T[]}
 */
export function findAll(root, selector, type) {
  /** @type {T[]} */
  const found = [];
  for (const el of root.querySelectorAll(selector)) if (el instanceof type) found.push(el);
  return found;
}

/**
 * The form's control called `name` (a RadioNodeList for a group of radios); it must be a `type`.
 * @template {Element | RadioNodeList} T
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function field(form, name, type) {
  const control = form.elements.namedItem(name);
  if (!(control instanceof type)) throw new Error(`The form has no ${type.name} named ${name}.`);
  return control;
}
