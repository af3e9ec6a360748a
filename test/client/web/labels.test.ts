/**
 * Pick-list labels: every code of every pick-list the referral form shows
 * (found from the schema the way the form finds them) has a label in every
 * language, as does every code of every labelled list; no catalogue labels a
 * code the lists do not have; and the machine-drafted ones say so.
 */
import { FIELD_GROUPS } from '../../../client/referral/index';
import { LANGUAGES, setLanguage } from '../../../client/web/src/i18n';
import { FIELD_PICK_LISTS, LABELS, LABEL_META, PICK_LISTS, type PickList, fieldOptionLabel, pickLabel } from '../../../client/web/src/i18n/labels';
import { FORM_SECTIONS, fieldKind } from '../../../client/web/src/referral-form';

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
