/**
 * The inbox with more threads than its page, in headless Chromium against
 * a real relay: it shows the most urgent 100 (ordered over all threads, not
 * the first 100 received), says how many of how many, counts unread over all
 * threads, shows the next page in place with the keyboard alone and moves
 * focus to the first new row, keeps what was shown through a live update,
 * and starts from the first page again after a lock. It opens from the
 * browser's own copy before the relay answers (the bar says "Connecting…").
 * Its search by case code and its state filter apply to every thread before
 * paging, are used with the keyboard alone, and outlive a live update
 * without taking focus from the search box.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork, type TestOrg } from '../support/network';
import { enrolClient, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { PASSPHRASE, enrolBrowser, launchChromium } from './browser';
import { seriousViolations } from './screens';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const EXAMPLE = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
/** INBOX_PAGE in client/web/src/inbox.ts. */
const PAGE = 100;
const SENDERS = 4;

let fx: RelayFixture;
let browser: Browser;
let page: Page;
let shelter: TestOrg;
const senders: HandoverClient[] = [];
const senderCases: CaseService[] = [];
const pageErrors: string[] = [];

function referral(caseCode: string, priority: 'normal' | 'emergency') {
  const now = Date.now();
  return {
    ...EXAMPLE,
    header: { ...EXAMPLE.header, priority, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...EXAMPLE.identity, caseCode },
    consent: { ...EXAMPLE.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  } as never;
}

const rows = (p: Page) => p.locator('#inbox tbody tr').count();
const shownText = (p: Page) => p.textContent('#inbox-shown');

async function unlock(p: Page): Promise<void> {
  await p.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await p.click('#unlock button[type="submit"]');
  await p.waitForSelector('#inbox', { timeout: 30_000 });
}

beforeAll(async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { webApp: { dir: WEB_DIR, development: true } } });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await enrolBrowser(page, { url: fx.url, crypto }, shelter, 'intake');
  // PAGE normal referrals, then one emergency: it is received last and must still be on the first page.
  for (let k = 0; k < SENDERS; k++) {
    const client = await enrolClient(fx, ngo, `sender-${k}`);
    const cases = new CaseService({ transport: client });
    await cases.start();
    senders.push(client);
    senderCases.push(cases);
  }
  await Promise.all(
    senderCases.map(async (cases, k) => {
      for (let i = k; i < PAGE; i += SENDERS) await cases.refer(referral(`PAGE-${String(i).padStart(3, '0')}`, 'normal'));
    }),
  );
  await senderCases[0]!.refer(referral('PAGE-EMERGENCY', 'emergency'));
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent?.includes(`of ${n} cases`), PAGE + 1, { timeout: 120_000, polling: 250 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  for (const cases of senderCases) cases.dispose();
  for (const client of senders) await client.close();
  await fx?.close();
});

it('shows the most urgent page of all threads, with how many of how many, and unread counted over all', async () => {
  expect(await rows(page)).toBe(PAGE);
  expect(await shownText(page)).toBe(`Showing the ${PAGE} most urgent of ${PAGE + 1} cases`);
  // Received last, ordered first: the page is cut after the order over all threads.
  expect(await page.textContent('#inbox tbody tr:first-child button.open-thread')).toBe('PAGE-EMERGENCY');
  expect(await page.textContent('#unread-summary')).toBe(`${PAGE + 1} cases with unread messages`);
  expect(await page.textContent('#inbox-more')).toBe('Show 1 more');
  expect(await page.isVisible('#inbox-more')).toBe(true);
});

it('shows the next page in place with the keyboard alone; focus goes to the first new row, and the button goes', async () => {
  await page.focus('#inbox-more');
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#inbox tbody tr').length === n, PAGE + 1);
  expect(await shownText(page)).toBe(`Showing the ${PAGE + 1} most urgent of ${PAGE + 1} cases`);
  expect(await page.isHidden('#inbox-more')).toBe(true);
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    return el?.classList.contains('open-thread') ? el.closest('tr') === document.querySelector('#inbox tbody tr:last-child') : false;
  });
  expect(focused).toBe(true);
});

it('keeps every row shown through a live update, and the page has no serious or critical accessibility violation', async () => {
  await senderCases[1]!.refer(referral('PAGE-LIVE', 'normal'));
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent?.includes(`of ${n} cases`), PAGE + 2, { timeout: 30_000 });
  // What was shown (101) stays shown; the new thread is one more, behind the button.
  expect(await rows(page)).toBe(PAGE + 1);
  expect(await page.textContent('#inbox-more')).toBe('Show 1 more');
  expect(await seriousViolations(page)).toEqual([]);
});

it('starts from the first page again after a lock, and opens from this browser before the relay answers', async () => {
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  // Sign-in held back: the inbox still opens from the browser's own copy, and the bar says it is connecting.
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route('**/v1/auth/**', async (route) => {
    await held;
    await route.continue();
  });
  await unlock(page);
  expect(await rows(page)).toBe(PAGE);
  expect(await shownText(page)).toBe(`Showing the ${PAGE} most urgent of ${PAGE + 2} cases`);
  expect(await page.textContent('#connection')).toBe('Connecting…');
  expect(await page.getAttribute('#connection', 'data-state')).toBe('connecting');
  release();
  await page.waitForSelector('#connection[data-state="connected"]:text-is("Connected")', { timeout: 20_000 });
  await page.unroute('**/v1/auth/**');
  expect(pageErrors).toEqual([]);
});

const activeId = (p: Page) => p.evaluate(() => document.activeElement?.id);

it('searches case codes as one types (any case), keeping focus in the box, and the search and focus outlive a live update', async () => {
  expect(await page.textContent('label[for="inbox-search"]')).toBe('Search by case code');
  expect(await page.textContent('label[for="inbox-group"]')).toBe('Show');
  await page.focus('#inbox-search');
  await page.keyboard.type('page-00');
  await page.waitForFunction(() => document.querySelector('#inbox-shown')?.textContent === '10 cases match');
  expect(await rows(page)).toBe(10);
  expect(await activeId(page)).toBe('inbox-search');
  expect(await page.isVisible('#inbox-more')).toBe(false);
  // A thread arrives while the box has focus: the screen re-renders, and what was typed, and where, stays.
  await senderCases[2]!.refer(referral('PAGE-007-B', 'normal'));
  await page.waitForFunction(() => document.querySelector('#inbox-shown')?.textContent === '11 cases match', undefined, { timeout: 30_000 });
  expect(await page.inputValue('#inbox-search')).toBe('page-00');
  expect(await activeId(page)).toBe('inbox-search');
  expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).selectionStart)).toBe('page-00'.length);
  await page.keyboard.type('7');
  await page.waitForFunction(() => document.querySelector('#inbox-shown')?.textContent === '2 cases match');
  expect(await page.locator('#inbox tbody button.open-thread').allTextContents()).toEqual(expect.arrayContaining(['PAGE-007', 'PAGE-007-B']));
  expect(await rows(page)).toBe(2);
  expect(await activeId(page)).toBe('inbox-search');
  expect(await seriousViolations(page)).toEqual([]);
});

it('filters by state group with the keyboard before paging, keeps the filter through a live update, and says when nothing matches', async () => {
  await page.fill('#inbox-search', '');
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent === `Showing the 100 most urgent of ${n} cases`, PAGE + 3);
  await page.focus('#inbox-search');
  await page.keyboard.press('Tab');
  expect(await activeId(page)).toBe('inbox-group');
  // First "with unread messages": as many as the summary counts, whatever their state.
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => (document.querySelector('#inbox-group') as HTMLSelectElement | null)?.value === 'unread');
  const unreadCount = Number((await page.textContent('#unread-summary'))?.match(/\d+/)?.[0]);
  expect(unreadCount).toBeGreaterThan(PAGE);
  expect(await shownText(page)).toBe(`Showing the ${PAGE} most urgent of ${unreadCount} matching cases`);
  expect(await page.locator('#inbox tbody tr:not(.unread)').count()).toBe(0);
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => (document.querySelector('#inbox-group') as HTMLSelectElement | null)?.value === 'waiting');
  // Every thread here waits for an answer: the filter runs over all of them, then the page is cut.
  expect(await shownText(page)).toBe(`Showing the ${PAGE} most urgent of ${PAGE + 3} matching cases`);
  expect(await rows(page)).toBe(PAGE);
  expect(await page.textContent('#inbox-more')).toBe('Show 3 more');
  expect(await page.textContent('#inbox tbody tr:first-child button.open-thread')).toBe('PAGE-EMERGENCY');
  // One more arrives, then its sender withdraws it: the inbox re-renders live each time, with the filter (and focus) kept.
  const { threadId } = await senderCases[3]!.refer(referral('PAGE-WITHDRAWN', 'normal'));
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent === `Showing the 100 most urgent of ${n} matching cases`, PAGE + 4, { timeout: 30_000 });
  await senderCases[3]!.withdraw(threadId, { reasonCode: 'referred-elsewhere' });
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent === `Showing the 100 most urgent of ${n} matching cases`, PAGE + 3, { timeout: 30_000 });
  expect(await page.inputValue('#inbox-group')).toBe('waiting');
  await page.waitForFunction(() => document.activeElement?.id === 'inbox-group');
  // The withdrawn referral is with the closed ones.
  await page.selectOption('#inbox-group', 'closed');
  await page.waitForFunction(() => document.querySelector('#inbox-shown')?.textContent === '1 case matches');
  expect(await page.locator('#inbox tbody button.open-thread').allTextContents()).toEqual(['PAGE-WITHDRAWN']);
  expect(await seriousViolations(page)).toEqual([]);
  // Search and filter together; nothing matches: it says so, and there is no empty table.
  await page.fill('#inbox-search', 'page-0');
  await page.waitForFunction(() => document.querySelector('#inbox-shown')?.textContent === 'No case matches the search and filter.');
  expect(await page.isVisible('#inbox')).toBe(false);
  expect(await page.isVisible('#inbox-more')).toBe(false);
  expect(await seriousViolations(page)).toEqual([]);
  await page.selectOption('#inbox-group', 'all');
  await page.fill('#inbox-search', '');
  await page.waitForFunction((n) => document.querySelector('#inbox-shown')?.textContent === `Showing the 100 most urgent of ${n} cases`, PAGE + 4);
  expect(pageErrors).toEqual([]);
});
