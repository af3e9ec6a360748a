/**
 * The string catalogues: every word the app shows goes through `t`. Pick-list
 * codes without a catalogue entry are shown as words made from the code
 * (`ForcedLabour` → "Forced labour"), in English, until they are translated.
 */
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

export function setLanguage(lang: Language): void {
  current = lang;
}
export function language(): Language {
  return current;
}

/** The message for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const template = CATALOGUES[current][key] ?? en[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** A catalogue key that is only known at run time (a status, an event type): the key itself if it has no entry. */
export function tDynamic(key: string, fallback?: string): string {
  return key in en ? t(key as MessageKey) : fallback ?? key;
}

/** A pick-list code as words: `PossibleVictimOfTrafficking` → "Possible victim of trafficking", `no-capacity` → "No capacity". */
const ACRONYMS: Record<string, string> = { ngo: 'NGO', iom: 'IOM', NGO: 'NGO', IOM: 'IOM' };

export function humanize(code: string): string {
  const acronym = ACRONYMS[code];
  if (acronym) return acronym;
  const words = code
    .replace(/^[A-Z]_/, '')
    .replace(/[-_]+/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function formatDateTime(ms: number): string {
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}
