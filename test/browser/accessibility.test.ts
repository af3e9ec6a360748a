/**
 * axe-core on the screens of the app in every language: no serious or
 * critical violations (WCAG 2.1 A/AA rules). Here a thread waiting for an
 * answer (its decline and request-info forms); three-orgs.test.ts walks every
 * screen of screens.ts (set-up and enrolment too) in every language.
 * Also: the referral form can be filled and sent with the keyboard alone,
 * and every screen fits a 360 px wide phone.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork, type TestOrg } from '../support/network';
import { enrolClient, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, launchChromium } from './browser';
import { seriousViolations } from './screens';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const LANGUAGES = ['en', 'ru', 'kk', 'tr', 'ar'];
const ARTIFACTS = path.join(__dirname, '../artifacts/web/languages');

let fx: RelayFixture;
let browser: Browser;
let page: Page;
let ngoClient: HandoverClient;
let shelter: TestOrg;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { webApp: { dir: WEB_DIR, development: true } } });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  await page.goto(fx.url);
  await page.waitForSelector('html[data-ready="true"]');
  expect(await seriousViolations(page)).toEqual([]); // the set-up screen
  await enrolBrowser(page, { url: fx.url, crypto }, shelter, 'a11y');
  ngoClient = await enrolClient(fx, ngo, 'dana');
  const cases = new CaseService({ transport: ngoClient });
  await cases.start();
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const now = Date.now();
  await cases.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  });
  cases.dispose();
  await page.waitForSelector('#inbox button.open-thread', { timeout: 20_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await ngoClient?.close();
  await fx?.close();
});

it.each(LANGUAGES)('no serious or critical violations on any screen in %s', async (lang) => {
  await page.selectOption('#language', lang);
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
  const found: string[] = [];
  const check = async (screen: string) => {
    found.push(...(await seriousViolations(page)).map((v) => `${screen}: ${v}`));
    // A picture of every screen in every language, for people reviewing the translations.
    await page.screenshot({ path: path.join(ARTIFACTS, `${lang}-${screen.replace(/\W+/g, '-')}.png`), fullPage: true });
  };
  await check('inbox');
  await page.click('#inbox button.open-thread');
  await page.waitForSelector('#thread-status');
  await check('thread');
  await page.click('#back');
  await page.click('#open-directory');
  await page.waitForSelector('#directory');
  await check('directory');
  await page.click('#back');
  await page.click('#open-outbox');
  await page.waitForSelector('#outbox-empty');
  await check('outbox');
  await page.click('#back');
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  await page.click('#send-referral');
  await page.waitForSelector('#form-summary.error');
  await check('referral form with errors');
  await page.click('#referral-form button.secondary');
  await page.waitForSelector('#inbox');
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  await check('unlock');
  await page.fill('#unlock input[name="passphrase"]', 'a long browser passphrase');
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#inbox', { timeout: 30_000 });
  expect(found).toEqual([]);
});

it('the referral form works with the keyboard alone, consent first', async () => {
  await page.selectOption('#language', 'en');
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  // The heading takes the focus when a screen opens; Tab then walks the form in order.
  const order: string[] = [];
  for (let i = 0; i < 35; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name ?? document.activeElement?.id ?? ''));
  }
  expect(order.filter((n) => n.startsWith('consent.'))[0]).toBe('consent.givenBy');
  expect(order.findIndex((n) => n.startsWith('consent.'))).toBeLessThan(order.findIndex((n) => n.startsWith('header.')));
  // Submitting from the keyboard moves the focus to the first field in error.
  await page.focus('#send-referral');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#form-summary.error');
  expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('consent.givenBy');
});

it('fits a 360 px wide phone screen without sideways scrolling', async () => {
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = async () => {
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (over > 0) {
      const wide = await page.evaluate(() => Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}`));
      throw new Error(`wider than the screen: ${wide.join(', ')}`);
    }
    return over;
  };
  await page.click('#referral-form button.secondary');
  await page.waitForSelector('#inbox');
  expect(await overflow()).toBeLessThanOrEqual(0);
  await page.click('#inbox button.open-thread');
  await page.waitForSelector('#thread-status');
  expect(await overflow()).toBeLessThanOrEqual(0);
  await page.click('#back');
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  expect(await overflow()).toBeLessThanOrEqual(0);
});
