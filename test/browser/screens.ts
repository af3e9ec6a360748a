/**
 * Every screen of the web app, as data: how to get to it from the inbox, how
 * to know it is shown in a language, how to get back. The three-org scenario
 * walks this list in every language, saving a screenshot of each screen
 * (test/artifacts/web/screens/, git-ignored) and running axe-core on it.
 *
 * A new screen (settings, outbox …) is one more entry in SESSION_SCREENS
 * (or PRE_SESSION_SCREENS for one shown before a device is enrolled).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ar } from '../../client/web/src/i18n/ar';
import { type MessageKey, en } from '../../client/web/src/i18n/en';
import { kk } from '../../client/web/src/i18n/kk';
import { ru } from '../../client/web/src/i18n/ru';
import { tr } from '../../client/web/src/i18n/tr';
import { PASSPHRASE } from './browser';

// The catalogues themselves (plain objects), not the i18n module: the tests need the words, not its formatting code.
export const CATALOGUES = { en, ru, kk, tr, ar } as const;
export type Language = keyof typeof CATALOGUES;
export const LANGUAGES = Object.keys(CATALOGUES) as Language[];
export type { MessageKey };
/** The catalogue text of `key` in `lang`. */
export function catalogueText(lang: Language, key: MessageKey): string | undefined {
  return (CATALOGUES[lang] as Readonly<Record<string, string>>)[key];
}

export const SCREENS_DIR = path.join(__dirname, '../artifacts/web/screens');
/** Window-sized shots (1000 × 700) of a few screens, for README (`npm run screenshots` copies them to docs/screenshots/). */
export const README_SHOTS_DIR = path.join(SCREENS_DIR, 'readme');
export const README_SHOTS: readonly string[] = ['inbox-en', 'thread-en', 'referral-form-errors-en', 'thread-ar'];

export interface ScreenSpec {
  /** File-name part of its screenshots. */
  name: string;
  /** The catalogue key of the screen's heading (h1): shows the screen re-rendered in a language. */
  heading: MessageKey;
  /** From the inbox to this screen (once; languages are switched on it). */
  enter?(p: Page): Promise<void>;
  /** After each language change, before the checks (e.g. submit the empty form to show its errors). */
  settle?(p: Page): Promise<void>;
  /** Back to the inbox. */
  leave?(p: Page): Promise<void>;
}

/** Shown before this browser holds a device: walked during set-up and enrolment. */
export const PRE_SESSION_SCREENS: Record<'setup' | 'enrol', ScreenSpec> = {
  setup: { name: 'setup', heading: 'setup.title' },
  enrol: { name: 'enrol', heading: 'enrol.title' },
};

/** Shown to an unlocked device (the last one locks it and unlocks it again). */
export const SESSION_SCREENS: ScreenSpec[] = [
  { name: 'inbox', heading: 'inbox.title' },
  {
    name: 'thread',
    heading: 'thread.title',
    enter: async (p) => {
      await p.click('#inbox button.open-thread');
      await p.waitForSelector('#thread-status');
    },
    leave: backToInbox,
  },
  {
    name: 'referral-form-errors',
    heading: 'form.title',
    enter: async (p) => {
      await p.click('#new-referral');
      await p.waitForSelector('#referral-form');
    },
    settle: async (p) => {
      await p.click('#send-referral');
      await p.waitForSelector('#form-summary.error');
    },
    leave: async (p) => {
      await p.click('#referral-form button.secondary');
      await p.waitForSelector('#inbox, #inbox-empty');
    },
  },
  {
    name: 'directory',
    heading: 'directory.title',
    enter: async (p) => {
      await p.click('#open-directory');
      await p.waitForSelector('#directory');
    },
    leave: backToInbox,
  },
  {
    name: 'settings',
    heading: 'settings.title',
    enter: async (p) => {
      await p.click('#open-settings');
      await p.waitForSelector('#settings-language');
    },
    leave: backToInbox,
  },
  {
    name: 'outbox',
    heading: 'outbox.title',
    enter: async (p) => {
      await p.click('#open-outbox');
      await p.waitForSelector('#back');
    },
    leave: backToInbox,
  },
  {
    name: 'locked',
    heading: 'unlock.title',
    enter: async (p) => {
      await p.click('#lock');
      await p.waitForSelector('#unlock');
    },
    leave: async (p) => {
      await p.fill('#unlock input[name="passphrase"]', PASSPHRASE);
      await p.click('#unlock button[type="submit"]');
      await p.waitForSelector('#new-referral', { timeout: 30_000 });
      // The inbox opens before the sign-in ends: what follows may need the relay.
      await p.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
    },
  },
];

async function backToInbox(p: Page): Promise<void> {
  await p.click('#back');
  await p.waitForSelector('#new-referral');
}

/** Switch the page's language and wait until the screen shows `heading` in it. */
export async function switchLanguage(p: Page, lang: Language, heading: MessageKey): Promise<void> {
  await p.selectOption('#language', lang);
  const prefix = (catalogueText(lang, heading) ?? '').split('{')[0] ?? '';
  await p.waitForFunction(
    ([l, text]) => document.documentElement.lang === l && (document.querySelector('h1')?.textContent ?? '').startsWith(text),
    [lang, prefix] as const,
  );
}

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core's serious and critical WCAG 2.1 A/AA violations on the page as
 * lines. The axe source is evaluated through the DevTools protocol, so the
 * page keeps its Content-Security-Policy (no injected script tag).
 */
export async function seriousViolations(p: Page): Promise<string[]> {
  if (!(await p.evaluate(() => 'axe' in window))) await p.evaluate(AXE);
  const result = await p.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Violation[]; passes: unknown[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return { violations: r.violations, passes: r.passes.length };
  });
  // axe did look: it passed some rules (labels, contrast, lang …).
  if (result.passes <= 5) throw new Error(`axe passed only ${result.passes} rules: did it run?`);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** What a walk found: axe's findings per screen and language, and the screenshots it saved. */
export interface WalkReport {
  violations: string[];
  shots: string[];
}

/** Screenshot (and, unless `axe` is false, axe-check) the screen shown now in `lang`. */
export async function checkScreen(p: Page, screen: ScreenSpec, lang: Language, report: WalkReport, opts: { axe?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  if (opts.axe !== false) report.violations.push(...(await seriousViolations(p)).map((v) => `${screen.name} [${lang}]: ${v}`));
  const file = path.join(SCREENS_DIR, `${screen.name}-${lang}.png`);
  await p.screenshot({ path: file, fullPage: true });
  report.shots.push(file);
  if (README_SHOTS.includes(`${screen.name}-${lang}`)) {
    mkdirSync(README_SHOTS_DIR, { recursive: true });
    await p.screenshot({ path: path.join(README_SHOTS_DIR, `${screen.name}-${lang}.png`) });
  }
}

/** The screen shown now, in every language of `langs` (then back to `restore`). */
export async function walkLanguages(p: Page, screen: ScreenSpec, langs: readonly Language[], restore: Language, report: WalkReport, opts: { axe?: boolean } = {}): Promise<void> {
  for (const lang of langs) {
    await switchLanguage(p, lang, screen.heading);
    await screen.settle?.(p);
    await checkScreen(p, screen, lang, report, opts);
  }
  await switchLanguage(p, restore, screen.heading);
}

/** Every session screen in every language of `langs`, starting and ending at the inbox in `restore`. */
export async function walkSessionScreens(p: Page, langs: readonly Language[], restore: Language, report: WalkReport, opts: { axe?: boolean } = {}): Promise<void> {
  for (const screen of SESSION_SCREENS) {
    await screen.enter?.(p);
    await walkLanguages(p, screen, langs, restore, report, opts);
    await screen.leave?.(p);
  }
}
