/**
 * Building the page with DOM calls only. Every piece of text — and every
 * field of a message is attacker text — goes in through `textContent` or an
 * attribute setter, never as HTML: this file is the app's only way to make
 * elements, and it has no way to parse markup.
 */
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) throw new Error('event handlers are attached with on(), not as attributes');
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function on<E extends HTMLElement, K extends keyof HTMLElementEventMap>(el: E, type: K, listener: (ev: HTMLElementEventMap[K]) => void): E {
  el.addEventListener(type, listener);
  return el;
}

/** Remove every child (the lock uses it on the whole app). */
export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

let ids = 0;
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A label + control pair, with an error line the form fills in. */
export function field(label: string, control: HTMLElement, opts: { hint?: string; testId?: string } = {}): { wrap: HTMLElement; error: HTMLElement } {
  const id = control.id || uid('f');
  control.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' });
  control.setAttribute('aria-describedby', `${id}-error`);
  const wrap = h('div', { class: 'field', ...(opts.testId ? { 'data-field': opts.testId } : {}) }, h('label', { for: id }, label), control, opts.hint ? h('p', { class: 'hint' }, opts.hint) : null, error);
  return { wrap, error };
}
