/**
 * The new-referral form, generated from the referral schema (ReferralBody of
 * the referral package): each listed field's control comes from its schema
 * type — a pick-list becomes a select or checkboxes with human labels, a
 * boolean a checkbox, a long text a text area, a timestamp a date — and the
 * schema's own checks give the field-level messages, in the user's language.
 * The consent section comes first.
 */
import { FIELD_GROUPS, type FieldGroup, Location, type OrgRef, ReferralBody, type ScopeViolation, type WithheldRule, planReferral, withheldGroupsFor } from '../../referral/index';
import { isHandoverError } from '../../sdk/index';
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
  {
    key: 'form.section.childGuardian',
    fields: ['childGuardian.isChild', 'childGuardian.unaccompanied', 'childGuardian.separated', 'childGuardian.caregiverName', 'childGuardian.caregiverRelation', 'childGuardian.caregiverInformed'],
    optional: true,
  },
  {
    key: 'form.section.traffickingContext',
    fields: [
      'traffickingContext.traffickingStatus',
      'traffickingContext.traffickingStatusDecisionMakingOrg',
      'traffickingContext.typeOfExploitation',
      'traffickingContext.forcedLabourIndustry',
      'traffickingContext.methodsOfControl',
      'traffickingContext.methodOfRecruitment',
      'traffickingContext.recruitmentDetails',
      'traffickingContext.countryOfExploitation',
    ],
    optional: true,
  },
  {
    key: 'form.section.riskSafety',
    fields: [
      'riskSafety.riskLevel',
      'riskSafety.lifeThreatening',
      'riskSafety.retaliationRisk',
      'riskSafety.reTraffickingRisk',
      'riskSafety.safetyInstructions.whoMayVisit',
      'riskSafety.safetyInstructions.codeWord',
      'riskSafety.safetyInstructions.transport',
      'riskSafety.safetyInstructions.other',
    ],
    optional: true,
  },
  {
    key: 'form.section.healthNeeds',
    fields: ['healthNeeds.immediateMedicalNeeds', 'healthNeeds.disability', 'healthNeeds.medication', 'healthNeeds.fitToTravel', 'healthNeeds.otherNeeds'],
    optional: true,
  },
];

/** The schema's own country code (ISO 3166 alpha-2): the one a location's country is. */
const COUNTRY_CODE = Location.shape.country as unknown as SchemaNode;

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
  | { kind: 'timestamp' }
  /** An ISO 3166 alpha-2 country code (the schema's CountryCode). */
  | { kind: 'country' };

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

/**
 * The optional groups a field is in, outermost first: each prefix of its path
 * whose object the schema lets be absent (`riskSafety`, then
 * `riskSafety.safetyInstructions`). A group none of whose fields is answered is
 * left out of the referral; one partly answered is sent and the schema checks it.
 */
export function optionalGroups(path: string): string[] {
  const parts = path.split('.');
  const out: string[] = [];
  let node = ReferralBody as unknown as SchemaNode;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = unwrap(node).node.shape?.[parts[i] as string];
    if (!next) throw new Error(`the referral schema has no field ${path}`);
    if (unwrap(next).optional) out.push(parts.slice(0, i + 1).join('.'));
    node = next;
  }
  return out;
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
  if (node === COUNTRY_CODE) return { kind: 'country' };
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
    case 'country': {
      const input = h('input', { type: 'text', name, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', maxlength: 2, size: 3 });
      const f = field(label, input, { hint: t('form.countryHint'), testId: path });
      return { wrap: f.wrap, control: { path, kind, error: f.error, read: () => input.value.trim().toUpperCase() || undefined, focus: () => input.focus() } };
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

/**
 * What the caseworker chose to withhold: groups from every recipient, and
 * groups from one recipient org each. These become the consent's own
 * withholding rules (signed with the referral), never a filter of the form.
 */
export interface WithholdChoice {
  all: readonly string[];
  /** Per recipient org id: the groups it must not receive. */
  byOrg?: ReadonlyMap<string, readonly string[]>;
}

/** The recipients the form's values name: the referred org, then the coordinators (distinct ids). */
export function formRecipients(values: ReadonlyMap<string, unknown>): OrgRef[] {
  const out: OrgRef[] = [];
  const add = (v: unknown) => {
    const ref = v as OrgRef | undefined;
    if (ref && typeof ref.orgId === 'string' && !out.some((o) => o.orgId === ref.orgId)) out.push(ref);
  };
  add(values.get('header.referredOrganisation'));
  const coordinators = values.get('header.coordinators');
  if (Array.isArray(coordinators)) for (const c of coordinators) add(c);
  return out;
}

/**
 * The consent's `withheld` rules for the choice: one rule for every
 * recipient, one per org for its own groups. A per-org choice for an org
 * that is no longer a recipient is dropped (it was for that referral only).
 */
export function withheldRules(choice: WithholdChoice, recipients: readonly string[]): WithheldRule[] {
  const rules: WithheldRule[] = [];
  const isGroup = (g: string): g is FieldGroup => (FIELD_GROUPS as readonly string[]).includes(g);
  const all = [...new Set(choice.all)].filter(isGroup);
  if (all.length > 0) rules.push({ fieldGroups: all });
  for (const orgId of recipients) {
    const groups = [...new Set(choice.byOrg?.get(orgId) ?? [])].filter(isGroup).filter((g) => !all.includes(g));
    if (groups.length > 0) rules.push({ fieldGroups: groups, fromOrgIds: [orgId] });
  }
  return rules;
}

/** The referral the form's values make, with what the form fills in itself (the consent's time and recorder, no coordinators). */
export function buildReferral(values: ReadonlyMap<string, unknown>, now: number, withheld: readonly string[] | WithholdChoice = []): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  // The objects of the required sections always exist, so the schema names each missing field rather than the whole group.
  for (const section of FORM_SECTIONS.filter((s) => !s.optional)) {
    for (const path of section.fields) ensureParents(body, path);
  }
  // An optional group (a section, or a group within one) left untouched is left out: its unticked booleans alone are not an answer.
  const answered = [...values].filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0)).map(([p]) => p);
  for (const [path, value] of values) {
    if (value === undefined) continue;
    if (optionalGroups(path).some((g) => !answered.some((p) => p.startsWith(`${g}.`)))) continue;
    setPath(body, path, value);
  }
  if (values.get('header.coordinators') === undefined) setPath(body, 'header.coordinators', []);
  setPath(body, 'consent.givenAt', now);
  // What the survivor does not want shared: the consent's own rules (the case layer redacts by them, per recipient).
  const choice: WithholdChoice = Array.isArray(withheld) ? { all: withheld as readonly string[] } : (withheld as WithholdChoice);
  setPath(body, 'consent.withheld', withheldRules(choice, formRecipients(values).map((r) => r.orgId)));
  const name = values.get('header.referringPrimaryCaseWorker.name');
  setPath(body, 'consent.recordedBy', name === undefined ? {} : { name });
  return body;
}

/** One recipient in the preview: exactly what the case layer would send it, or why it would refuse. */
export interface PreviewRow {
  orgId: string;
  orgType: string;
  /** The groups it would receive (empty when the consent does not allow sending to it). */
  receives: FieldGroup[];
  /** The groups the consent withholds from it and it does not receive. */
  withheld: FieldGroup[];
  /** Withheld, but shared anyway because the risk is life-threatening (the domain rule). */
  sharedAnyway: FieldGroup[];
  /** Why the consent does not allow sending to it (empty when it does): the case layer's own check. */
  violations: ScopeViolation[];
}

/** The preview's rows: the case layer's plan for each recipient on its own (one refusal does not hide the others). */
export function disclosureRows(body: ReferralBody, now: number): PreviewRow[] {
  const { header } = body;
  const recipients = [header.referredOrganisation, ...header.coordinators];
  return recipients.map((r) => {
    const withheld = withheldGroupsFor(body.consent, r);
    try {
      const plan = planReferral(body, { recipients: [r], purpose: header.purpose, now });
      const row = plan.recipients[0];
      const receives = row?.fieldGroups ?? [];
      return {
        orgId: r.orgId,
        orgType: r.orgType,
        receives,
        withheld: withheld.filter((g) => !receives.includes(g)),
        sharedAnyway: withheld.filter((g) => receives.includes(g)),
        violations: [],
      };
    } catch (err) {
      if (!isHandoverError(err) || err.code !== 'CONSENT_SCOPE') throw err;
      const details = err.details as { violations?: ScopeViolation[] } | undefined;
      return { orgId: r.orgId, orgType: r.orgType, receives: [], withheld, sharedAnyway: [], violations: details?.violations ?? [] };
    }
  });
}

/** A list of groups as words. */
function groupWords(list: readonly string[]): string {
  return list.length ? list.map((g) => pickLabel('fieldGroup', g)).join(', ') : '—';
}

/** One preview row as a line in the user's language. */
export function previewLine(row: PreviewRow): string {
  const org = `${row.orgId} (${pickLabel('orgType', row.orgType)})`;
  if (row.violations.length > 0) {
    return t('form.previewOutOfScope', { org, reasons: row.violations.map((v) => tDynamic(`scope.${v}`, humanize(v))).join('; ') });
  }
  const line = t('form.previewLine', { org, groups: groupWords(row.receives), withheld: groupWords(row.withheld) });
  return row.sharedAnyway.length > 0 ? `${line} ${t('form.previewSharedAnyway', { groups: groupWords(row.sharedAnyway) })}` : line;
}

/** Which groups each recipient will receive and which the consent withholds from it, as lines. */
export function disclosurePreview(body: ReferralBody, now: number): string[] {
  return disclosureRows(body, now).map(previewLine);
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
      if (section.optional) set.appendChild(h('p', { class: 'hint' }, t('form.optionalSection')));
      // An optional group within the section (the risk section's safety instructions) gets a fieldset of its own.
      const groups = new Map<string, HTMLElement>();
      for (const path of section.fields) {
        const { control, wrap } = makeControl(path, orgs);
        controls.push(control);
        const inner = optionalGroups(path).filter((g) => g.includes('.')).pop();
        if (inner === undefined) {
          set.appendChild(wrap);
          continue;
        }
        let sub = groups.get(inner);
        if (!sub) {
          sub = h('fieldset', { class: 'subgroup', 'data-group': inner }, h('legend', {}, tDynamic(`field.${inner}`, humanize(inner.split('.').pop() ?? inner))));
          groups.set(inner, sub);
          set.appendChild(sub);
        }
        sub.appendChild(wrap);
      }
      form.appendChild(set);
    }
    const withheldBoxes = FIELD_GROUPS.map((g) => {
      const box = h('input', { type: 'checkbox', name: 'withheld', value: g, id: uid('w') });
      return { box, el: h('span', {}, box, h('label', { for: box.id }, pickLabel('fieldGroup', g))) };
    });
    const consentSet = form.querySelector('fieldset[data-section="form.section.consent"]');
    consentSet?.appendChild(h('fieldset', { class: 'field', 'data-field': 'consent.withheld' }, h('legend', {}, t('form.withheld')), h('div', { class: 'checks' }, ...withheldBoxes.map((b) => b.el))));
    // Per recipient: the groups this one org must not receive (the consent's per-org rules, as the CLI's JSON has them).
    const byOrg = new Map<string, Set<string>>();
    const perOrg = h('div', { id: 'withhold-by-org' });
    consentSet?.appendChild(h('fieldset', { class: 'field', 'data-field': 'consent.withheld.byOrg' }, h('legend', {}, t('form.withheldByOrg')), perOrg));
    const currentValues = () => new Map(controls.map((c) => [c.path, c.read()]));
    let shownFor = '';
    const renderPerOrg = () => {
      const recipients = formRecipients(currentValues());
      const key = recipients.map((r) => r.orgId).join('\n');
      if (key === shownFor && perOrg.childNodes.length > 0) return;
      shownFor = key;
      perOrg.replaceChildren();
      if (recipients.length === 0) {
        perOrg.appendChild(h('p', { class: 'hint' }, t('form.withheldByOrgNone')));
        return;
      }
      for (const r of recipients) {
        const chosen = byOrg.get(r.orgId) ?? new Set<string>();
        byOrg.set(r.orgId, chosen);
        const name = orgs.find((o) => o.orgId === r.orgId)?.name ?? r.orgId;
        const boxes = FIELD_GROUPS.map((g) => {
          const box = h('input', { type: 'checkbox', name: `withheld-from.${r.orgId}`, value: g, id: uid('wo'), checked: chosen.has(g), 'data-org': r.orgId });
          on(box, 'change', () => (box.checked ? chosen.add(g) : chosen.delete(g)));
          return h('span', {}, box, h('label', { for: box.id }, pickLabel('fieldGroup', g)));
        });
        perOrg.appendChild(
          h('fieldset', { class: 'withhold-org', 'data-org': r.orgId }, h('legend', {}, t('form.withheldFrom', { org: `${name} (${r.orgId})` })), h('div', { class: 'checks' }, ...boxes)),
        );
      }
    };
    const withheld = (): WithholdChoice => ({
      all: withheldBoxes.filter((b) => b.box.checked).map((b) => b.box.value),
      byOrg: new Map([...byOrg].map(([orgId, groups]) => [orgId, [...groups]])),
    });
    const preview = h('ul', { id: 'disclosure-preview' });
    const previewBox = h('section', { 'aria-live': 'polite', 'aria-labelledby': 'preview-heading' }, h('h2', { id: 'preview-heading' }, t('form.preview')), preview);
    const updatePreview = () => {
      renderPerOrg();
      const parsed = ReferralBody.safeParse(buildReferral(currentValues(), Date.now(), withheld()));
      preview.replaceChildren();
      if (!parsed.success) {
        preview.appendChild(h('li', {}, t('form.previewIncomplete')));
        return;
      }
      try {
        for (const row of disclosureRows(parsed.data, Date.now())) {
          preview.appendChild(
            h(
              'li',
              { 'data-org': row.orgId, 'data-receives': row.receives.join(' '), class: row.violations.length > 0 ? 'warning' : undefined },
              previewLine(row),
            ),
          );
        }
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
          // Nothing or part of it went out: the case layer keeps it in its outbox and sends it when the relay is back.
          if (isHandoverError(err) && err.details?.outbox !== undefined) {
            await session.outbox.countReferrals();
            await app.show(app.outboxScreen);
            return;
          }
          for (const el of Array.from(form.elements)) (el as HTMLInputElement).disabled = false;
          status.textContent = '';
          summary.className = 'form-error error';
          summary.textContent = t('app.error', { message: errorText(err) });
        }
      })();
    });
    root.append(h('h1', {}, t('form.title')), h('p', {}, t('form.intro')));
    if (orgs.length === 0) {
      // Right after enrolment the directory comes with the first sign-in, which now runs behind the screen:
      // say so, and draw the form again once it knows the organisations (what was typed stays).
      root.append(h('p', { class: 'notice', role: 'status', id: 'directory-empty' }, t(session.connecting ? 'form.directoryLoading' : 'form.directoryEmpty')));
      app.onThreadUpdate(() => {
        if (session.client.trust.listOrgs().some((o) => o.orgId !== session.client.orgId)) void app.refresh();
      });
    }
    root.append(form);
  };
}
