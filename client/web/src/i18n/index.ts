/**
 * The string catalogues: every word the app shows goes through `t`.
 * Messages are ICU MessageFormat (intl-messageformat): `{name}` fills in a
 * value, `{count, plural, one {…} other {…}}` picks the plural form of the
 * language (Russian one/few/many, Arabic zero/one/two/few/many), `{n, number}`
 * writes a number the language's way. Each message is compiled once per
 * language and kept. Dates and times are written in the language and the
 * browser's own time zone, with the zone's name beside a time.
 *
 * Pick-list codes have their own label catalogues (labels.ts); a code
 * without a label is shown as words made from the code (`ForcedLabour` →
 * "Forced labour"), in English, as a last resort.
 */
import { IntlMessageFormat } from 'intl-messageformat';
import { ar } from './ar';
import { type Catalogue, type MessageKey, en } from './en';
import { kk } from './kk';
import { ru } from './ru';
import { tr } from './tr';

export type { MessageKey } from './en';

export const LANGUAGES = ['en', 'ru', 'kk', 'tr', 'ar'] as const;
export type Language = (typeof LANGUAGES)[number];

export const CATALOGUES: Record<Language, Catalogue> = { en, ru, kk, tr, ar };

/** Who wrote each catalogue: machine-drafted ones wait for a native speaker's review. */
export const CATALOGUE_META: Record<Language, { name: string; dir: 'ltr' | 'rtl'; machineDrafted: boolean }> = {
  en: { name: 'English', dir: 'ltr', machineDrafted: false },
  ru: { name: 'Русский', dir: 'ltr', machineDrafted: true },
  kk: { name: 'Қазақша', dir: 'ltr', machineDrafted: true },
  tr: { name: 'Türkçe', dir: 'ltr', machineDrafted: true },
  ar: { name: 'العربية', dir: 'rtl', machineDrafted: true },
};

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

let current: Language = 'en';
/** The time zone dates are written in: the browser's own unless set (tests set one). */
let zone: string | undefined;

export function setLanguage(lang: Language): void {
  current = lang;
}
export function language(): Language {
  return current;
}
/** Write dates in this IANA time zone (undefined: the browser's). */
export function setTimeZone(timeZone: string | undefined): void {
  zone = timeZone;
  dateFormats.clear();
}
export function timeZone(): string {
  return zone ?? new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export type MessageParams = Record<string, string | number>;

/** Compiled messages, per language and key (a message is parsed once). */
const compiled = new Map<string, IntlMessageFormat>();

/**
 * Compile `message` for `lang`. Tags (`<b>`) are not markup here: the app
 * shows text only, so `<` and `>` stay plain characters.
 */
export function compileMessage(message: string, lang: Language): IntlMessageFormat {
  return new IntlMessageFormat(message, lang, undefined, { ignoreTag: true });
}

/** The message for `key` in the current language, with its placeholders filled in and plurals chosen. */
export function t(key: MessageKey, params: MessageParams = {}): string {
  const lang = CATALOGUES[current][key] !== undefined ? current : 'en';
  const cacheKey = `${lang}\u0000${key}`;
  let format = compiled.get(cacheKey);
  if (!format) {
    format = compileMessage(CATALOGUES[lang][key], lang);
    compiled.set(cacheKey, format);
  }
  const text = format.format<string>(params);
  return typeof text === 'string' ? text : String(text);
}

/** A catalogue key that is only known at run time (a status, an event type): the key itself if it has no entry. */
export function tDynamic(key: string, fallback?: string): string {
  return key in en ? t(key as MessageKey) : fallback ?? key;
}

/** A pick-list code as words: `PossibleVictimOfTrafficking` → "Possible victim of trafficking", `no-capacity` → "No capacity". */
const ACRONYMS: Record<string, string> = { ngo: 'NGO', iom: 'IOM', NGO: 'NGO', IOM: 'IOM' };

export function humanize(code: string): string {
  // (Own keys only: a code like `toString` is a word, not the object's method.)
  const acronym = Object.hasOwn(ACRONYMS, code) ? ACRONYMS[code] : undefined;
  if (acronym) return acronym;
  const words = code
    .replace(/^[A-Z]_/, '')
    .replace(/[-_]+/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Date formats per language and kind (Intl formatters are costly to make). */
const dateFormats = new Map<string, Intl.DateTimeFormat>();

function dateFormat(kind: 'dateTime' | 'date'): Intl.DateTimeFormat {
  const cacheKey = `${current}/${kind}`;
  let format = dateFormats.get(cacheKey);
  if (!format) {
    const options: Intl.DateTimeFormatOptions =
      kind === 'date'
        ? { year: 'numeric', month: 'short', day: 'numeric', timeZone: timeZone() }
        : // (dateStyle/timeStyle cannot be combined with timeZoneName: the fields are named one by one.)
          { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short', timeZone: timeZone() };
    format = new Intl.DateTimeFormat(current, options);
    dateFormats.set(cacheKey, format);
  }
  return format;
}

/** A moment, in the language and the browser's time zone, with the zone's short name ("6 Dec 2026, 14:05 GMT+5"). */
export function formatDateTime(ms: number): string {
  return dateFormat('dateTime').format(new Date(ms));
}

/** A calendar day (a date of birth, a consent's end), in the language. */
export function formatDate(ms: number): string {
  return dateFormat('date').format(new Date(ms));
}

/** A number the language's way. */
export function formatNumber(n: number): string {
  return new Intl.NumberFormat(current).format(n);
}
