/**
 * The new-referral form, generated from the referral schema (ReferralBody of
 * the referral package): each listed field's control comes from its schema
 * type — a pick-list becomes a select or checkboxes with human labels, a
 * boolean a checkbox, a long text a text area, a timestamp a date — and the
 * schema's own checks give the field-level messages, in the user's language.
 * The consent section comes first.
 */
import { FIELD_GROUPS, type FieldGroup, Location, type OrgRef, type OrgTypeName, REFERRAL_LIMITS, ReferralBody, type ScopeViolation, Text, type WithheldRule, planReferral, withheldGroupsFor } from '../../referral/index';
import { ORG_TYPES, isHandoverError } from '../../sdk/index';
import { type App, errorText } from './app';
import { countryCodeFor, countryOptions } from './countries';
import { field, h, on, uid } from './dom';
import { type MessageKey, humanize, language, t, tDynamic } from './i18n/index';
import { fieldOptionLabel, pickLabel } from './i18n/labels/index';
import { threadScreen } from './thread';
import { failureOf, keyChangeOrgOf, sendFailureText } from './key-change';

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
      // A code still works; the list offers the countries by name in the user's language, and a typed name is mapped back to its code.
      const lang = language();
      const options = countryOptions(lang);
      const list = h('datalist', { id: uid('countries') }, ...options.map((o) => h('option', { value: o.name }, o.code)));
      const input = h('input', { type: 'text', name, autocomplete: 'off', spellcheck: 'false', maxlength: 100, list: list.id });
      const f = field(label, input, { hint: t('form.countryPickHint'), testId: path });
      f.wrap.appendChild(list);
      return { wrap: f.wrap, control: { path, kind, error: f.error, read: () => countryCodeFor(input.value, lang, options), focus: () => input.focus() } };
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
  /** Per certified org type: the groups no org of that type may receive (a recipient now, or one added later). */
  byType?: ReadonlyMap<string, readonly string[]>;
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
  // A type's rule is kept whether or not a recipient has that type now: it also binds an org added to the case later.
  for (const type of ORG_TYPES) {
    const groups = [...new Set(choice.byType?.get(type) ?? [])].filter(isGroup).filter((g) => !all.includes(g));
    if (groups.length > 0) rules.push({ fieldGroups: groups, fromOrgTypes: [type] });
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
  /** Outside the consent, but the case layer would send it with a written vital-interest reason (never after a withdrawal). */
  overridable: boolean;
  /** What it would receive with that override (empty when in scope or not overridable). */
  overrideReceives: FieldGroup[];
}

/** A written reason the case layer takes as given, to ask it whether an override would be accepted (never sent). */
const PROBE_REASON = 'probe';

/**
 * The preview's rows: the case layer's plan for each recipient on its own
 * (one refusal does not hide the others). For a recipient outside the
 * consent the case layer is asked again with a written reason: whether it
 * would send with a vital-interest override is its decision, not the form's.
 */
export function disclosureRows(body: ReferralBody, now: number, opts: { withdrawn?: boolean } = {}): PreviewRow[] {
  const { header } = body;
  const recipients = [header.referredOrganisation, ...header.coordinators];
  const withdrawn = opts.withdrawn ?? false;
  return recipients.map((r) => {
    const withheld = withheldGroupsFor(body.consent, r);
    try {
      const plan = planReferral(body, { recipients: [r], purpose: header.purpose, now, withdrawn });
      const row = plan.recipients[0];
      const receives = row?.fieldGroups ?? [];
      return {
        orgId: r.orgId,
        orgType: r.orgType,
        receives,
        withheld: withheld.filter((g) => !receives.includes(g)),
        sharedAnyway: withheld.filter((g) => receives.includes(g)),
        violations: [],
        overridable: false,
        overrideReceives: [],
      };
    } catch (err) {
      if (!isHandoverError(err) || err.code !== 'CONSENT_SCOPE') throw err;
      const details = err.details as { violations?: ScopeViolation[] } | undefined;
      let overrideReceives: FieldGroup[] = [];
      let overridable = false;
      try {
        const plan = planReferral(body, { recipients: [r], purpose: header.purpose, now, withdrawn, overrideReason: PROBE_REASON });
        overrideReceives = plan.recipients[0]?.fieldGroups ?? [];
        overridable = true;
      } catch (again) {
        if (!isHandoverError(again) || again.code !== 'CONSENT_SCOPE') throw again;
      }
      return { orgId: r.orgId, orgType: r.orgType, receives: [], withheld, sharedAnyway: [], violations: details?.violations ?? [], overridable, overrideReceives };
    }
  });
}

/**
 * Whether the referral can go as it is: every recipient in the consent; or
 * some outside it and a written vital-interest reason sends it (the case
 * layer signs a `consent.override` for each, which every participant sees);
 * or some outside it where no override is possible (a withdrawn consent),
 * and it is refused. The same rules as adding an org to a thread.
 */
export type ReferralOverride =
  | { kind: 'none' }
  | { kind: 'overridable'; orgIds: string[] }
  | { kind: 'refused'; orgIds: string[]; violations: ScopeViolation[] };

export function referralOverride(rows: readonly PreviewRow[]): ReferralOverride {
  const outside = rows.filter((r) => r.violations.length > 0);
  if (outside.length === 0) return { kind: 'none' };
  const refused = outside.filter((r) => !r.overridable);
  if (refused.length > 0) return { kind: 'refused', orgIds: refused.map((r) => r.orgId), violations: [...new Set(refused.flatMap((r) => r.violations))] };
  return { kind: 'overridable', orgIds: outside.map((r) => r.orgId) };
}

/** The written vital-interest reason, checked as the case layer's event checks it; the message in the user's language when it is not valid. */
export function overrideReasonProblem(reason: string): string | null {
  const written = reason.trim();
  if (written === '') return t('form.override.required');
  if (written.length > REFERRAL_LIMITS.text) return t('form.error.tooLong', { max: String(REFERRAL_LIMITS.text) });
  return Text.safeParse(written).success ? null : t('form.error.format');
}

/** The org-type withholding the form offers: one row per certified type, its label in the user's language and the groups chosen for it. */
export function orgTypeRows(byType: ReadonlyMap<string, readonly string[]> = new Map()): Array<{ orgType: OrgTypeName; label: string; groups: readonly string[] }> {
  return ORG_TYPES.map((orgType) => ({ orgType, label: pickLabel('orgType', orgType), groups: byType.get(orgType) ?? [] }));
}

/** A list of groups as words. */
function groupWords(list: readonly string[]): string {
  return list.length ? list.map((g) => pickLabel('fieldGroup', g)).join(', ') : '—';
}

/** One preview row as a line in the user's language. */
export function previewLine(row: PreviewRow): string {
  const org = `${row.orgId} (${pickLabel('orgType', row.orgType)})`;
  if (row.violations.length > 0) {
    const reasons = row.violations.map((v) => tDynamic(`scope.${v}`, humanize(v))).join('; ');
    return row.overridable ? t('form.previewOverride', { org, reasons, groups: groupWords(row.overrideReceives) }) : t('form.previewOutOfScope', { org, reasons });
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
    // Per certified org type: the groups no org of that type receives (the consent's fromOrgTypes rules).
    const byType = new Map<string, Set<string>>();
    const typeSets = orgTypeRows().map((row) => {
      const chosen = new Set<string>();
      byType.set(row.orgType, chosen);
      const boxes = FIELD_GROUPS.map((g) => {
        const box = h('input', { type: 'checkbox', name: `withheld-type.${row.orgType}`, value: g, id: uid('wt'), 'data-org-type': row.orgType });
        on(box, 'change', () => (box.checked ? chosen.add(g) : chosen.delete(g)));
        return h('span', {}, box, h('label', { for: box.id }, pickLabel('fieldGroup', g)));
      });
      return h('fieldset', { class: 'withhold-type', 'data-org-type': row.orgType }, h('legend', {}, t('form.withheldFromType', { type: row.label })), h('div', { class: 'checks' }, ...boxes));
    });
    // Folded until opened: four types of every group would be a long walk for the keyboard through a choice most referrals do not need.
    consentSet?.appendChild(
      h(
        'details',
        { class: 'field withhold-types', 'data-field': 'consent.withheld.byType', id: 'withhold-by-type' },
        h('summary', {}, t('form.withheldByType')),
        h('p', { class: 'hint' }, t('form.withheldByTypeHint')),
        ...typeSets,
      ),
    );
    const withheld = (): WithholdChoice => ({
      all: withheldBoxes.filter((b) => b.box.checked).map((b) => b.box.value),
      byOrg: new Map([...byOrg].map(([orgId, groups]) => [orgId, [...groups]])),
      byType: new Map([...byType].map(([type, groups]) => [type, [...groups]])),
    });
    const preview = h('ul', { id: 'disclosure-preview' });
    const previewBox = h('section', { 'aria-live': 'polite', 'aria-labelledby': 'preview-heading' }, h('h2', { id: 'preview-heading' }, t('form.preview')), preview);
    // Some recipient outside the consent: a written vital-interest reason sends it anyway (signed, seen by all), where the case layer allows it.
    const overrideReason = h('textarea', { name: 'overrideReason', rows: 3, maxlength: REFERRAL_LIMITS.text });
    const overrideField = field(t('form.override.reason'), overrideReason, { testId: 'overrideReason' });
    const overrideExplain = h('p', { class: 'hint', id: uid('ox') });
    overrideReason.setAttribute('aria-describedby', `${overrideExplain.id} ${overrideReason.id}-error`);
    const overrideBox = h(
      'fieldset',
      { id: 'referral-override', class: 'override-box', hidden: true },
      h('legend', {}, t('form.override.title')),
      overrideExplain,
      overrideField.wrap,
    );
    const overrideRefused = h('p', { class: 'warning', id: 'override-refused', role: 'status', hidden: true });
    let overrideState: ReferralOverride = { kind: 'none' };
    const showOverride = (rows: readonly PreviewRow[] | null) => {
      overrideState = rows ? referralOverride(rows) : { kind: 'none' };
      overrideBox.hidden = overrideState.kind !== 'overridable';
      overrideRefused.hidden = overrideState.kind !== 'refused';
      const named = (ids: readonly string[]) => ids.map((id) => `${orgs.find((o) => o.orgId === id)?.name ?? id} (${id})`).join(', ');
      if (overrideState.kind === 'overridable') overrideExplain.textContent = t('form.override.explain', { orgs: named(overrideState.orgIds) });
      if (overrideState.kind === 'refused') {
        overrideRefused.textContent = t('form.override.refused', { orgs: named(overrideState.orgIds), reasons: overrideState.violations.map((v) => tDynamic(`scope.${v}`, humanize(v))).join('; ') });
      }
    };
    const updatePreview = () => {
      renderPerOrg();
      const parsed = ReferralBody.safeParse(buildReferral(currentValues(), Date.now(), withheld()));
      preview.replaceChildren();
      if (!parsed.success) {
        preview.appendChild(h('li', {}, t('form.previewIncomplete')));
        showOverride(null);
        return;
      }
      try {
        const rows = disclosureRows(parsed.data, Date.now());
        showOverride(rows);
        for (const row of rows) {
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
    on(form, 'change', (ev) => {
      if (ev.target !== overrideReason) updatePreview();
    });
    form.append(previewBox, overrideRefused, overrideBox);
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
            const message = issueMessage(issue as Parameters<typeof issueMessage>[0]);
            // A country that is neither a code nor a name in the list: say what the field takes.
            const countryWrong = control.kind.kind === 'country' && (issue.code === 'invalid_format' || issue.code === ('invalid_string' as string));
            if (!control.error.textContent) control.error.textContent = countryWrong ? t('form.error.country') : message;
          } else unplaced.push(issueMessage(issue as Parameters<typeof issueMessage>[0]));
        }
        summary.className = 'form-error error';
        summary.textContent = [t('form.invalid'), ...unplaced].join(' ');
        // The first field in error in the form's order (consent first), not in the schema's.
        controls.find((c) => c.error.textContent)?.focus();
        return;
      }
      // Outside the consent: refused where nothing can override it, else only with a written vital-interest reason.
      let override: string | undefined;
      overrideField.error.textContent = '';
      try {
        showOverride(disclosureRows(parsed.data, Date.now()));
      } catch {
        showOverride(null);
      }
      if (overrideState.kind === 'refused') {
        summary.className = 'form-error error';
        summary.textContent = overrideRefused.textContent ?? '';
        return;
      }
      if (overrideState.kind === 'overridable') {
        const problem = overrideReasonProblem(overrideReason.value);
        if (problem) {
          overrideField.error.textContent = problem;
          summary.className = 'form-error error';
          summary.textContent = t('form.invalid');
          overrideReason.focus();
          return;
        }
        override = overrideReason.value.trim();
      }
      void (async () => {
        status.textContent = t('form.working');
        for (const el of Array.from(form.elements)) (el as HTMLInputElement).disabled = true;
        try {
          const result = await session.cases.refer(parsed.data, override !== undefined ? { overrideReason: override } : {});
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
          // A recipient's pending org key change is told as a pointer to the directory (key-change.ts), not the CLI's command.
          const keyChanges = session.client.trust.pendingKeyChanges();
          const failure = failureOf(err);
          summary.textContent = t('app.error', { message: keyChangeOrgOf(failure, keyChanges) !== undefined ? sendFailureText(failure, keyChanges) : errorText(err) });
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
    } else {
      // The form shows no thread: a thread's update (or a delivery notice) must not draw it again, which would lose what was ticked and chosen.
      app.onThreadUpdate(() => undefined);
    }
    root.append(form);
  };
}
