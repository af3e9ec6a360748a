/**
 * Pick-list labels: every code of every pick-list the referral form shows
 * (found from the schema the way the form finds them) has a label in every
 * language, as does every code of every labelled list; no catalogue labels a
 * code the lists do not have; and the machine-drafted ones say so.
 */
import {
  DOCUMENT_TYPES,
  FIELD_GROUPS,
  HTCDS_CASE_STATUSES,
  HTCDS_DECISION_MAKING_ORGS,
  HTCDS_EXPLOITATION_TYPES,
  HTCDS_FORCED_LABOUR_INDUSTRIES,
  HTCDS_METHODS_OF_CONTROL,
  HTCDS_METHODS_OF_RECRUITMENT,
  HTCDS_TRAFFICKING_STATUSES,
  ReferralBody,
} from '../../../client/referral/index';
import { LANGUAGES, setLanguage } from '../../../client/web/src/i18n';
import { FIELD_PICK_LISTS, LABELS, LABEL_META, PICK_LISTS, type PickList, fieldOptionLabel, pickLabel } from '../../../client/web/src/i18n/labels';
import { FORM_SECTIONS, fieldKind } from '../../../client/web/src/referral-form';
import { countryText, leafText } from '../../../client/web/src/thread';

afterEach(() => setLanguage('en'));

/** Every pick-list field of the form, with the codes its schema allows. */
const formLists = FORM_SECTIONS.flatMap((s) => s.fields).flatMap((path) => {
  const kind = fieldKind(path);
  return kind.kind === 'select' || kind.kind === 'checks' ? [{ path, codes: kind.options }] : [];
});

it('finds the pick-lists of the form', () => {
  expect(formLists.map((l) => l.path)).toEqual(expect.arrayContaining(['consent.givenBy', 'header.servicesRequested', 'identity.gender', 'header.reasonForReferral']));
});

describe.each(LANGUAGES)('the %s labels', (lang) => {
  it('label every code of every pick-list the form shows', () => {
    for (const { path, codes } of formLists) {
      const list = FIELD_PICK_LISTS[path];
      expect([path, list !== undefined]).toEqual([path, true]);
      const labels = LABELS[lang][list as PickList] as Record<string, string>;
      for (const code of codes) expect([path, code, typeof labels[code] === 'string' && labels[code].trim().length > 0]).toEqual([path, code, true]);
    }
    // The groups consent can withhold (checkboxes and the preview).
    for (const group of FIELD_GROUPS) expect(LABELS[lang].fieldGroup[group].trim()).not.toBe('');
  });

  it('label exactly the codes of each list', () => {
    for (const [list, codes] of Object.entries(PICK_LISTS)) {
      expect([list, Object.keys(LABELS[lang][list as PickList]).sort()]).toEqual([list, [...codes].sort()]);
    }
  });

  it('say whether they await a native review', () => {
    expect(LABEL_META[lang].machineDrafted).toBe(lang !== 'en');
  });
});

it('shows the label in the language chosen, English when a language lacks one, the code as words when no list has it', () => {
  setLanguage('ru');
  expect(fieldOptionLabel('identity.gender', 'Feminine')).toBe('Женский');
  expect(pickLabel('service', 'medical')).toBe('Медицинская помощь');
  expect(pickLabel('service', 'SomethingNew')).toBe('Something new');
  expect(fieldOptionLabel('identity.unknownField', 'NoListHere')).toBe('No list here');
  setLanguage('ar');
  expect(fieldOptionLabel('riskSafety.riskLevel', 'high')).toBe('مرتفع');
  // A label object's inherited keys are not labels.
  expect(pickLabel('service', 'toString')).toBe('To string');
});

/** Every pick-list leaf of the referral schema (enums, and arrays of them, at any depth), by the path the thread view labels it by. */
function schemaEnums(): Array<{ path: string; codes: readonly string[] }> {
  type Node = { _zod: { def: { type: string; innerType?: Node; element?: Node; in?: Node; shape?: Record<string, Node> } }; shape?: Record<string, Node>; options?: readonly string[] };
  const out: Array<{ path: string; codes: readonly string[] }> = [];
  const walk = (node: Node, path: string) => {
    const def = node._zod.def;
    if (def.innerType) return walk(def.innerType, path);
    if (def.type === 'pipe' && def.in) return walk(def.in, path);
    if (def.type === 'array' && def.element) return walk(def.element, path);
    if (def.type === 'enum' && node.options) return void out.push({ path, codes: node.options });
    if (def.type === 'object' && node.shape) for (const [k, v] of Object.entries(node.shape)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(ReferralBody as unknown as Node, '');
  return out;
}

it('has a list, with exactly its codes, for every pick-list the referral can hold (what the thread view shows)', () => {
  const found = schemaEnums();
  expect(found.map((e) => e.path)).toEqual(
    expect.arrayContaining(['traffickingContext.methodsOfControl', 'identity.identityDocuments.documentType', 'healthNeeds.fitToTravel', 'consent.withheld.fieldGroups', 'header.coordinators.orgType']),
  );
  for (const { path, codes } of found) {
    const list = FIELD_PICK_LISTS[path];
    expect([path, list]).toEqual([path, expect.any(String)]);
    expect([path, [...PICK_LISTS[list as PickList]].sort()]).toEqual([path, [...codes].sort()]);
  }
});

it('labels the HTCDS lists, the document types and fit-to-travel', () => {
  expect(PICK_LISTS).toMatchObject({
    traffickingStatus: HTCDS_TRAFFICKING_STATUSES,
    decisionMakingOrg: HTCDS_DECISION_MAKING_ORGS,
    exploitationType: HTCDS_EXPLOITATION_TYPES,
    forcedLabourIndustry: HTCDS_FORCED_LABOUR_INDUSTRIES,
    methodOfControl: HTCDS_METHODS_OF_CONTROL,
    methodOfRecruitment: HTCDS_METHODS_OF_RECRUITMENT,
    caseStatus: HTCDS_CASE_STATUSES,
    documentType: DOCUMENT_TYPES,
    fitToTravel: ['yes', 'no', 'unknown'],
  });
  // No two codes of a list share a label, and none is empty.
  for (const lang of LANGUAGES) {
    for (const list of ['traffickingStatus', 'decisionMakingOrg', 'exploitationType', 'forcedLabourIndustry', 'methodOfControl', 'methodOfRecruitment', 'caseStatus', 'documentType', 'fitToTravel'] as const) {
      const labels = Object.entries(LABELS[lang][list] as Record<string, string>);
      expect([lang, list, new Set(labels.map(([, l]) => l)).size]).toEqual([lang, list, labels.length]);
      for (const [code, label] of labels) expect([lang, list, code, label.trim() !== '']).toEqual([lang, list, code, true]);
    }
  }
});

it('shows the referral\'s codes as labels in the reader\'s language in the thread view, inside arrays and nested objects too', () => {
  setLanguage('ru');
  expect(leafText('traffickingContext.traffickingStatus', 'traffickingStatus', 'PossibleVictimOfTrafficking')).toBe('Возможная жертва торговли людьми');
  // An array's elements are labelled by the array's path.
  expect(leafText('traffickingContext.methodsOfControl', 'methodsOfControl', 'DebtBondage')).toBe('Долговая кабала');
  expect(leafText('traffickingContext.forcedLabourIndustry', 'forcedLabourIndustry', 'C_Manufacturing')).toBe('Обрабатывающее производство');
  // A field of an array of objects: the array's path and the field's name.
  expect(leafText('identity.identityDocuments.documentType', 'documentType', 'national-id')).toBe('Удостоверение личности');
  expect(leafText('consent.withheld.fieldGroups', 'fieldGroups', 'traffickingContext')).toBe('Обстоятельства торговли людьми');
  expect(leafText('header.coordinators.orgType', 'orgType', 'iom')).toBe('МОМ');
  expect(leafText('healthNeeds.fitToTravel', 'fitToTravel', 'unknown')).toBe('Неизвестно');
  expect(leafText('traffickingContext.countryOfExploitation', 'countryOfExploitation', 'TR')).toBe('Турция (TR)');
  // Free text stays as it was written, even when it looks like a code.
  expect(leafText('traffickingContext.recruitmentDetails', 'recruitmentDetails', 'DebtBondage')).toBe('DebtBondage');
  setLanguage('ar');
  expect(leafText('traffickingContext.typeOfExploitation', 'typeOfExploitation', 'ForcedLabour')).toBe('العمل القسري');
  setLanguage('en');
  expect(countryText('KZ')).toBe('Kazakhstan (KZ)');
  // A code the browser has no name for is shown as it is.
  expect(countryText('AA')).toBe('AA');
});
