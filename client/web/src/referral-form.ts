/**
 * The new-referral form, generated from the referral schema (ReferralBody of
 * the referral package): each listed field's control comes from its schema
 * type — a pick-list becomes a select or checkboxes with human labels, a
 * boolean a checkbox, a long text a text area, a timestamp a date — and the
 * schema's own checks give the field-level messages, in the user's language.
 * The consent section comes first.
 */
import { FIELD_GROUPS, ReferralBody, planReferral } from '../../referral/index';
import { type App, errorText } from './app';
import { field, h, on, uid } from './dom';
import { type MessageKey, humanize, t, tDynamic } from './i18n/index';
import { fieldOptionLabel, pickLabel } from './i18n/labels/index';
import { threadScreen } from './thread';

/** The sections and fields the form shows, in order. Paths are into ReferralBody. */
export const FORM_SECTIONS: ReadonlyArray<{ key: MessageKey; fields: readonly string[]; optional?: boolean }> = [
  {
    key: 'form.section.consent',
    fields: ['consent.givenBy', 'consent.method', 'consent.purposes', 'consent.coveredOrgTypes', 'consent.coveredOrgIds', 'consent.legalBasis', 'consent.expiresAt'],
  },
  {
    key: 'form.section.header',
    fields: [
      'header.kind',
      'header.priority',
      'header.purpose',
      'header.servicesRequested',
      'header.reasonForReferral',
      'header.referredOrganisation',
      'header.coordinators',
      'header.referringPrimaryCaseWorker.name',
      'header.senderCaseReference',
      'header.referralDetails',
    ],
  },
  { key: 'form.section.identity', fields: ['identity.caseCode', 'identity.firstName', 'identity.secondName', 'identity.birthdate', 'identity.gender', 'identity.mobilePhone'] },
  { key: 'form.section.riskSafety', fields: ['riskSafety.riskLevel', 'riskSafety.lifeThreatening', 'riskSafety.retaliationRisk', 'riskSafety.reTraffickingRisk'], optional: true },
];

/** What the form needs to know of a schema node (zod's own description of it). */
interface SchemaNode {
  _zod: { def: { type: string; innerType?: SchemaNode; element?: SchemaNode; in?: SchemaNode } };
  shape?: Record<string, SchemaNode>;
  options?: readonly string[];
  maxLength?: number | null;
}

export type FieldKind =
  | { kind: 'text'; long: boolean; max?: number; date: boolean }
  | { kind: 'select'; options: readonly string[] }
  | { kind: 'checks'; options: readonly string[] }
  | { kind: 'list' }
  /** One org of the directory (an OrgRef: its id and certified type). */
  | { kind: 'org' }
  /** Several orgs of the directory: OrgRefs, or their ids only. */
  | { kind: 'orgs'; idsOnly: boolean }
  | { kind: 'boolean' }
  | { kind: 'timestamp' };

function unwrap(node: SchemaNode): { node: SchemaNode; optional: boolean } {
  let optional = false;
  let current = node;
  for (;;) {
    const def = current._zod.def;
    if ((def.type === 'optional' || def.type === 'nullable' || def.type === 'default') && def.innerType) {
      optional = true;
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in) current = def.in;
    else return { node: current, optional };
  }
}

/** The schema node of a dotted path into ReferralBody. */
export function schemaAt(path: string): { node: SchemaNode; optional: boolean } {
  let node = ReferralBody as unknown as SchemaNode;
  let optional = false;
  for (const part of path.split('.')) {
    const shape = unwrap(node).node.shape;
    const next = shape?.[part];
    if (!next) throw new Error(`the referral schema has no field ${path}`);
    const u = unwrap(next);
    optional = optional || u.optional;
    node = next;
  }
  return { node: unwrap(node).node, optional };
}

/** The control a schema type asks for. */
export function fieldKind(path: string): FieldKind {
  const { node } = schemaAt(path);
  const type = node._zod.def.type;
  const isOrgRef = (n: SchemaNode | undefined) => n?._zod.def.type === 'object' && n.shape !== undefined && 'orgId' in n.shape && 'orgType' in n.shape;
  // Organisations are picked from the directory (their type is the certified one), never typed.
  if (isOrgRef(node)) return { kind: 'org' };
  if (type === 'array' && node._zod.def.element && isOrgRef(unwrap(node._zod.def.element).node)) return { kind: 'orgs', idsOnly: false };
  if (type === 'array' && /OrgIds$/.test(path)) return { kind: 'orgs', idsOnly: true };
  if (type === 'enum' && node.options) return { kind: 'select', options: node.options };
  if (type === 'boolean') return { kind: 'boolean' };
  if (type === 'number') return { kind: 'timestamp' };
  if (type === 'array') {
    const element = node._zod.def.element ? unwrap(node._zod.def.element).node : undefined;
    if (element?._zod.def.type === 'enum' && element.options) return { kind: 'checks', options: element.options };
    return { kind: 'list' };
  }
  const max = node.maxLength ?? undefined;
  return { kind: 'text', long: (max ?? 0) > 500, ...(max ? { max } : {}), date: /birthdate|Date$/.test(path) };
}

/** A pick-list value as words in the user's language (the label catalogues, i18n/labels; else the code as words). */
function optionLabel(path: string, value: string): string {
  return fieldOptionLabel(path, value);
}

interface Control {
  path: string;
  kind: FieldKind;
  read(): unknown;
  error: HTMLElement;
  focus(): void;
}

/** An organisation the form can name: from this device's directory. */
export interface KnownOrg {
  orgId: string;
  orgType: string;
  name: string;
}

function makeControl(path: string, orgs: readonly KnownOrg[]): { control: Control; wrap: HTMLElement } {
  const kind = fieldKind(path);
  const label = tDynamic(`field.${path}`, humanize(path.split('.').pop() ?? path));
  const name = path;
  switch (kind.kind) {
    case 'select': {
      const select = h('select', { name }, h('option', { value: '' }, t('form.choose')), ...kind.options.map((o) => h('option', { value: o }, optionLabel(path, o))));
      const f = field(label, select, { testId: path });
      return { wrap: f.wrap, control: { path, kind, error: f.error, read: () => select.value || undefined, focus: () => select.focus() } };
    }
    case 'checks': {
      const groupId = uid('g');
      const boxes = kind.options.map((o) => {
        const box = h('input', { type: 'checkbox', name, value: o, id: uid('c') });
        return { box, el: h('span', {}, box, h('label', { for: box.id }, optionLabel(path, o))) };
      });
      const error = h('p', { class: 'field-error', id: `${groupId}-error`, role: 'alert' });
      const wrap = h('fieldset', { class: 'field', 'data-field': path, 'aria-describedby': `${groupId}-error` }, h('legend', {}, label), h('div', { class: 'checks' }, ...boxes.map((b) => b.el)), error);
      return {
        wrap,
        control: { path, kind, error, read: () => boxes.filter((b) => b.box.checked).map((b) => b.box.value), focus: () => boxes[0]?.box.focus() },
      };
    }
    case 'boolean': {
      const box = h('input', { type: 'checkbox', name, id: uid('b') });
      const error = h('p', { class: 'field-error', role: 'alert' });
      const wrap = h('div', { class: 'field', 'data-field': path }, h('span', {}, box, h('label', { for: box.id }, label)), error);
      return { wrap, control: { path, kind, error, read: () => box.checked, focus: () => box.focus() } };
    }
    case 'timestamp': {
      const input = h('input', { type: 'date', name });
      const f = field(label, input, { testId: path });
      return {
        wrap: f.wrap,
        control: { path, kind, error: f.error, read: () => (input.value ? Date.parse(`${input.value}T23:59:59`) : undefined), focus: () => input.focus() },
      };
    }
    case 'org': {
      const select = h('select', { name }, h('option', { value: '' }, t('form.choose')), ...orgs.map((o) => h('option', { value: o.orgId }, `${o.name} (${o.orgId}, ${pickLabel('orgType', o.orgType)})`)));
      const f = field(label, select, { testId: path });
      const read = () => {
        const org = orgs.find((o) => o.orgId === select.value);
        return org ? { orgId: org.orgId, orgType: org.orgType } : undefined;
      };
      return { wrap: f.wrap, control: { path, kind, error: f.error, read, focus: () => select.focus() } };
    }
    case 'orgs': {
      const groupId = uid('g');
      const boxes = orgs.map((o) => {
        const box = h('input', { type: 'checkbox', name, value: o.orgId, id: uid('o') });
        return { box, org: o, el: h('span', {}, box, h('label', { for: box.id }, `${o.name} (${o.orgId})`)) };
      });
      const error = h('p', { class: 'field-error', id: `${groupId}-error`, role: 'alert' });
      const wrap = h('fieldset', { class: 'field', 'data-field': path, 'aria-describedby': `${groupId}-error` }, h('legend', {}, label), h('div', { class: 'checks' }, ...boxes.map((b) => b.el)), error);
      const read = () => {
        const picked = boxes.filter((b) => b.box.checked).map((b) => b.org);
        return kind.idsOnly ? picked.map((o) => o.orgId) : picked.map((o) => ({ orgId: o.orgId, orgType: o.orgType }));
      };
      return { wrap, control: { path, kind, error, read, focus: () => boxes[0]?.box.focus() } };
    }
    case 'list': {
      const input = h('input', { type: 'text', name, autocomplete: 'off' });
      const f = field(label, input, { hint: t('form.listHint'), testId: path });
      const read = () => input.value.split(',').map((s) => s.trim()).filter(Boolean);
      return { wrap: f.wrap, control: { path, kind, error: f.error, read, focus: () => input.focus() } };
    }
    case 'text': {
      const input = kind.long
        ? h('textarea', { name, rows: 3, ...(kind.max ? { maxlength: kind.max } : {}) })
        : h('input', { type: kind.date ? 'date' : path.endsWith('Phone') ? 'tel' : 'text', name, autocomplete: 'off', ...(kind.max ? { maxlength: kind.max } : {}) });
      const f = field(label, input, { testId: path });
      return { wrap: f.wrap, control: { path, kind, error: f.error, read: () => input.value.trim() || undefined, focus: () => input.focus() } };
    }
  }
}

function ensureParents(target: Record<string, unknown>, path: string): Record<string, unknown> {
  let node = target;
  for (const part of path.split('.').slice(0, -1)) {
    const next = node[part];
    node = (typeof next === 'object' && next !== null ? next : (node[part] = {})) as Record<string, unknown>;
  }
  return node;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  ensureParents(target, path)[parts[parts.length - 1] as string] = value;
}

/** A schema issue as a message for the person filling the form. */
export function issueMessage(issue: { code: string; message: string; maximum?: unknown; input?: unknown; origin?: string }): string {
  switch (issue.code) {
    case 'invalid_type':
    case 'invalid_value':
      return issue.input === undefined || issue.input === '' ? t('form.error.required') : t('form.error.format');
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'set' ? t('form.error.choose') : t('form.error.required');
    case 'too_big':
      return t('form.error.tooLong', { max: String(issue.maximum) });
    case 'invalid_format':
    case 'invalid_string':
      return t('form.error.format');
    default:
      return t('form.error.other', { message: issue.message });
  }
}

/** The referral the form's values make, with what the form fills in itself (the consent's time and recorder, no coordinators). */
export function buildReferral(values: ReadonlyMap<string, unknown>, now: number, withheld: readonly string[] = []): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  // The objects of the required sections always exist, so the schema names each missing field rather than the whole group.
  for (const section of FORM_SECTIONS.filter((s) => !s.optional)) {
    for (const path of section.fields) ensureParents(body, path);
  }
  const sectionOf = (path: string) => FORM_SECTIONS.find((s) => s.fields.includes(path));
  for (const [path, value] of values) {
    if (value === undefined) continue;
    // An optional section left untouched is left out (its booleans alone are not an answer).
    const section = sectionOf(path);
    if (section?.optional && !section.fields.some((p) => values.get(p) !== undefined && values.get(p) !== false && !(Array.isArray(values.get(p)) && (values.get(p) as unknown[]).length === 0))) continue;
    setPath(body, path, value);
  }
  if (values.get('header.coordinators') === undefined) setPath(body, 'header.coordinators', []);
  setPath(body, 'consent.givenAt', now);
  // Groups the survivor does not want shared go to no recipient (per-org rules: the CLI's JSON input).
  setPath(body, 'consent.withheld', withheld.length > 0 ? [{ fieldGroups: [...withheld] }] : []);
  const name = values.get('header.referringPrimaryCaseWorker.name');
  setPath(body, 'consent.recordedBy', name === undefined ? {} : { name });
  return body;
}

/** Which groups each recipient will receive and which the consent withholds from it, as lines; or why it cannot be sent. */
export function disclosurePreview(body: ReferralBody, now: number): string[] {
  const { header } = body;
  const recipients = [header.referredOrganisation, ...header.coordinators];
  const plan = planReferral(body, { recipients, purpose: header.purpose, now });
  const groups = (list: readonly string[]) => (list.length ? list.map((g) => pickLabel('fieldGroup', g)).join(', ') : '—');
  return plan.recipients.map((r) => t('form.previewLine', { org: `${r.orgId} (${r.orgType})`, groups: groups(r.fieldGroups), withheld: groups(r.withheld) }));
}

export function referralFormScreen(app: App) {
  return (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    const controls: Control[] = [];
    const orgs: KnownOrg[] = session.client.trust
      .listOrgs()
      .filter((o) => o.orgId !== session.client.orgId)
      .map((o) => ({ orgId: o.orgId, orgType: o.orgType, name: o.name }));
    const form = h('form', { id: 'referral-form', novalidate: true });
    for (const section of FORM_SECTIONS) {
      const set = h('fieldset', { 'data-section': section.key }, h('legend', {}, t(section.key)));
      for (const path of section.fields) {
        const { control, wrap } = makeControl(path, orgs);
        controls.push(control);
        set.appendChild(wrap);
      }
      form.appendChild(set);
    }
    const withheldBoxes = FIELD_GROUPS.map((g) => {
      const box = h('input', { type: 'checkbox', name: 'withheld', value: g, id: uid('w') });
      return { box, el: h('span', {}, box, h('label', { for: box.id }, pickLabel('fieldGroup', g))) };
    });
    const consentSet = form.querySelector('fieldset[data-section="form.section.consent"]');
    consentSet?.appendChild(h('fieldset', { class: 'field', 'data-field': 'consent.withheld' }, h('legend', {}, t('form.withheld')), h('div', { class: 'checks' }, ...withheldBoxes.map((b) => b.el))));
    const withheld = () => withheldBoxes.filter((b) => b.box.checked).map((b) => b.box.value);
    const preview = h('ul', { id: 'disclosure-preview' });
    const previewBox = h('section', { 'aria-live': 'polite', 'aria-labelledby': 'preview-heading' }, h('h2', { id: 'preview-heading' }, t('form.preview')), preview);
    const updatePreview = () => {
      const parsed = ReferralBody.safeParse(buildReferral(new Map(controls.map((c) => [c.path, c.read()])), Date.now(), withheld()));
      preview.replaceChildren();
      if (!parsed.success) {
        preview.appendChild(h('li', {}, t('form.previewIncomplete')));
        return;
      }
      try {
        for (const line of disclosurePreview(parsed.data, Date.now())) preview.appendChild(h('li', {}, line));
      } catch (err) {
        preview.appendChild(h('li', { class: 'error' }, t('app.error', { message: errorText(err) })));
      }
    };
    on(form, 'change', updatePreview);
    form.appendChild(previewBox);
    updatePreview();
    const summary = h('p', { class: 'form-error', role: 'alert', id: 'form-summary' });
    const status = h('p', { role: 'status', id: 'form-status' });
    const cancel = on(h('button', { type: 'button', class: 'secondary' }, t('form.cancel')), 'click', () => void app.goHome());
    form.append(summary, status, h('p', {}, h('button', { type: 'submit', id: 'send-referral' }, t('form.submit')), ' ', cancel));
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      summary.textContent = '';
      summary.className = 'form-error';
      for (const c of controls) c.error.textContent = '';
      const values = new Map(controls.map((c) => [c.path, c.read()]));
      const body = buildReferral(values, Date.now(), withheld());
      const parsed = ReferralBody.safeParse(body);
      if (!parsed.success) {
        const unplaced: string[] = [];
        for (const issue of parsed.error.issues) {
          const path = issue.path.join('.');
          const control = controls.find((c) => path === c.path || path.startsWith(`${c.path}.`));
          if (control) {
            if (!control.error.textContent) control.error.textContent = issueMessage(issue as Parameters<typeof issueMessage>[0]);
          } else unplaced.push(issueMessage(issue as Parameters<typeof issueMessage>[0]));
        }
        summary.className = 'form-error error';
        summary.textContent = [t('form.invalid'), ...unplaced].join(' ');
        // The first field in error in the form's order (consent first), not in the schema's.
        controls.find((c) => c.error.textContent)?.focus();
        return;
      }
      void (async () => {
        status.textContent = t('form.working');
        for (const el of Array.from(form.elements)) (el as HTMLInputElement).disabled = true;
        try {
          const result = await session.cases.refer(parsed.data);
          status.textContent = t('form.sent');
          await app.show(threadScreen(app, result.threadId));
        } catch (err) {
          for (const el of Array.from(form.elements)) (el as HTMLInputElement).disabled = false;
          status.textContent = '';
          summary.className = 'form-error error';
          summary.textContent = t('app.error', { message: errorText(err) });
        }
      })();
    });
    root.append(h('h1', {}, t('form.title')), h('p', {}, t('form.intro')), form);
  };
}
