/**
 * The web app's string catalogues: every language has every key of the
 * English one and no other, keeps every `{placeholder}`, and says whether a
 * native speaker has reviewed it.
 */
import { CATALOGUES, CATALOGUE_META, LANGUAGES, humanize } from '../../../client/web/src/i18n';
import { en } from '../../../client/web/src/i18n/en';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe.each(LANGUAGES)('the %s catalogue', (lang) => {
  const catalogue = CATALOGUES[lang];

  it('has every key of the English catalogue, and no other', () => {
    expect(Object.keys(catalogue).sort()).toEqual(Object.keys(en).sort());
  });

  it('has a text for every key, with the same placeholders', () => {
    for (const [key, text] of Object.entries(en)) {
      const translated = catalogue[key as keyof typeof en];
      expect(typeof translated === 'string' && translated.trim().length > 0).toBe(true);
      expect([key, placeholders(translated)]).toEqual([key, placeholders(text)]);
    }
  });

  it('says its direction and whether it awaits a native review', () => {
    expect(CATALOGUE_META[lang].dir).toBe(lang === 'ar' ? 'rtl' : 'ltr');
    expect(CATALOGUE_META[lang].machineDrafted).toBe(lang !== 'en');
  });
});

it('shows pick-list codes without a catalogue entry as words', () => {
  expect(humanize('PossibleVictimOfTrafficking')).toBe('Possible victim of trafficking');
  expect(humanize('no-capacity')).toBe('No capacity');
  expect(humanize('C_Manufacturing')).toBe('Manufacturing');
  expect(humanize('ngo')).toBe('NGO');
});
