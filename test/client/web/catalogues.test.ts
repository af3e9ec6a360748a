/**
 * The web app's string catalogues: every language has every key of the
 * English one and no other; every message is valid ICU MessageFormat in its
 * language, names the same placeholders as English, and every plural gives
 * each form its language's plural rules need; and each says whether a native
 * speaker has reviewed it.
 */
import type { IntlMessageFormat } from 'intl-messageformat';
import { CATALOGUES, CATALOGUE_META, LANGUAGES, type Language, compileMessage, formatDateTime, humanize, setLanguage, setTimeZone, t } from '../../../client/web/src/i18n';
import { en } from '../../../client/web/src/i18n/en';

type Element = ReturnType<IntlMessageFormat['getAst']>[number];

/** Every argument a message names (plural and select arguments too), and every plural's forms. */
function walk(elements: readonly Element[], found: { args: Set<string>; plurals: Array<{ arg: string; forms: string[] }> } = { args: new Set(), plurals: [] }) {
  for (const el of elements) {
    if ('value' in el && typeof el.value === 'string' && el.type !== 0 /* literal */) found.args.add(el.value);
    if ('options' in el && el.options) {
      if ('pluralType' in el) found.plurals.push({ arg: el.value, forms: Object.keys(el.options).filter((k) => !k.startsWith('=')) });
      for (const option of Object.values(el.options)) walk(option.value, found);
    }
    if ('children' in el && Array.isArray(el.children)) walk(el.children, found);
  }
  return found;
}

const parsed = (lang: Language, text: string) => walk(compileMessage(text, lang).getAst());

afterEach(() => {
  setLanguage('en');
  setTimeZone(undefined);
});

describe.each(LANGUAGES)('the %s catalogue', (lang) => {
  const catalogue = CATALOGUES[lang];
  const categories = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;

  it('has every key of the English catalogue, and no other', () => {
    expect(Object.keys(catalogue).sort()).toEqual(Object.keys(en).sort());
  });

  it('has a message for every key that parses, with the same placeholders as English', () => {
    for (const [key, text] of Object.entries(en)) {
      const translated = catalogue[key as keyof typeof en];
      expect([key, typeof translated === 'string' && translated.trim().length > 0]).toEqual([key, true]);
      expect(() => compileMessage(translated, lang)).not.toThrow();
      expect([key, [...parsed(lang, translated).args].sort()]).toEqual([key, [...parsed('en', text).args].sort()]);
    }
  });

  it(`gives every plural the forms ${lang} needs (${categories.join(', ')}) and no others`, () => {
    let plurals = 0;
    for (const [key, text] of Object.entries(catalogue)) {
      for (const plural of parsed(lang, text).plurals) {
        plurals += 1;
        expect([key, plural.arg, [...plural.forms].sort()]).toEqual([key, plural.arg, [...categories].sort()]);
      }
    }
    expect(plurals).toBeGreaterThan(0);
  });

  it('counts wherever English counts', () => {
    for (const [key, text] of Object.entries(en)) {
      const pluralArgs = parsed('en', text).plurals.map((p) => p.arg);
      const translated = parsed(lang, catalogue[key as keyof typeof en]).plurals.map((p) => p.arg);
      expect([key, translated.sort()]).toEqual([key, pluralArgs.sort()]);
    }
  });

  it('fills in every message without an error', () => {
    setLanguage(lang);
    for (const [key, text] of Object.entries(en)) {
      const params = Object.fromEntries([...parsed('en', text).args].map((a) => [a, 3]));
      expect(typeof t(key as keyof typeof en, params)).toBe('string');
    }
  });

  it('says its direction and whether it awaits a native review', () => {
    expect(CATALOGUE_META[lang].dir).toBe(lang === 'ar' ? 'rtl' : 'ltr');
    expect(CATALOGUE_META[lang].machineDrafted).toBe(lang !== 'en');
  });
});

it('picks the plural form of the language', () => {
  const devices = (lang: Language, count: number) => {
    setLanguage(lang);
    return t('directory.devices', { count });
  };
  expect([1, 2].map((n) => devices('en', n))).toEqual(['1 device', '2 devices']);
  expect([1, 3, 5, 21].map((n) => devices('ru', n))).toEqual(['1 устройство', '3 устройства', '5 устройств', '21 устройство']);
  expect([0, 1, 2, 3, 11, 100].map((n) => devices('ar', n))).toEqual(['لا أجهزة', 'جهاز واحد', 'جهازان', `${new Intl.NumberFormat('ar').format(3)} أجهزة`, `${new Intl.NumberFormat('ar').format(11)} جهازًا`, `${new Intl.NumberFormat('ar').format(100)} جهاز`]);
  setLanguage('en');
  expect(t('inbox.history', { from: 'ngo:dana', received: 1, total: 3 })).toBe('Receiving history from ngo:dana: 1 of 3 messages');
});

it('leaves markup-like text as text', () => {
  expect(compileMessage('a <b>c</b> d', 'en').format()).toBe('a <b>c</b> d');
});

it('writes a time in the time zone it is set to, and names the zone', () => {
  const at = Date.UTC(2026, 11, 6, 12, 5);
  setTimeZone('Asia/Almaty');
  const almaty = formatDateTime(at);
  setTimeZone('Europe/Istanbul');
  const istanbul = formatDateTime(at);
  expect(almaty).not.toEqual(istanbul);
  expect(istanbul).toMatch(/3:05|15:05/);
  expect(istanbul).toMatch(/GMT\+3|TRT/);
});

it('shows pick-list codes without a catalogue entry as words', () => {
  expect(humanize('PossibleVictimOfTrafficking')).toBe('Possible victim of trafficking');
  expect(humanize('no-capacity')).toBe('No capacity');
  expect(humanize('C_Manufacturing')).toBe('Manufacturing');
  expect(humanize('ngo')).toBe('NGO');
});
