/**
 * Countries for the form's country fields: the ISO 3166-1 alpha-2 codes, a
 * static list (the browser's Intl has no list of regions of its own), named
 * in the user's language by Intl.DisplayNames. A field takes a code or a
 * name; a name is mapped back to its code, case-insensitively, in that
 * language. The schema's own check (CountryCode) still decides what is valid.
 */

/** Every officially assigned ISO 3166-1 alpha-2 code. */
export const COUNTRY_CODES: readonly string[] = (
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
  'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
  'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP ' +
  'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT ' +
  'MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
  'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG ' +
  'UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
).split(' ');

/** A country's name in the language, or undefined when the runtime has none. */
export function countryName(code: string, lang: string): string | undefined {
  try {
    const name = new Intl.DisplayNames([lang], { type: 'region', fallback: 'none' }).of(code);
    return name && name !== code ? name : undefined;
  } catch {
    return undefined;
  }
}

export interface CountryOption {
  code: string;
  name: string;
}

/** Every country with its name in the language, sorted by name as that language sorts. */
export function countryOptions(lang: string): CountryOption[] {
  let names: Intl.DisplayNames | undefined;
  try {
    names = new Intl.DisplayNames([lang], { type: 'region', fallback: 'none' });
  } catch {
    names = undefined;
  }
  const out = COUNTRY_CODES.map((code) => ({ code, name: names?.of(code) ?? code }));
  return out.sort((a, b) => a.name.localeCompare(b.name, lang));
}

const fold = (s: string, lang: string) => s.normalize('NFC').trim().replace(/\s+/g, ' ').toLocaleLowerCase(lang);

/**
 * What was typed, as a country code: two letters are a code (upper-cased);
 * otherwise a country's name in the language (any case), or the name with
 * its code as the list shows it ("Turkey (TR)"). Anything else is returned
 * as typed, for the schema's check to refuse; empty is undefined.
 */
export function countryCodeFor(input: string, lang: string, options: readonly CountryOption[] = countryOptions(lang)): string | undefined {
  const typed = input.trim();
  if (typed === '') return undefined;
  if (/^[A-Za-z]{2}$/.test(typed)) return typed.toUpperCase();
  const withCode = /^(.*)\(([A-Za-z]{2})\)$/.exec(typed);
  if (withCode?.[2]) return withCode[2].toUpperCase();
  const wanted = fold(typed, lang);
  return options.find((o) => fold(o.name, lang) === wanted)?.code ?? typed;
}
