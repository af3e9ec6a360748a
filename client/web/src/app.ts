/**
 * The app's state and its few rules: which screen shows, the unlocked
 * session (SDK client + case layer) and the lock. Locking drops the session,
 * closes the socket and empties the page; nothing of a case is ever put in
 * document.title, the URL or the browser history (screens are not routes).
 */
import { CaseService } from '../../referral/index';
import { type Crypto, type HandoverClient, isHandoverError } from '../../sdk/index';
import { clear, h, on } from './dom';
import { CATALOGUE_META, LANGUAGES, type Language, isLanguage, language, setLanguage, t } from './i18n/index';
import type { IndexedDbStorage } from './idb-storage';
import { notifyActivity } from './notify';
import { type WebSettings, effectiveLockMinutes, loadSettings } from './device-settings';
import { UnreadMarks } from './unread';
import { Outbox } from './outbox';

/** What the page that serves the app says about itself (`/app-config.json`, same origin). */
export interface AppConfig {
  /** The relay's base URL; default: the page's own origin. */
  relay?: string;
  /** Served by a development relay: a banner says so. */
  development?: boolean;
  /** Minutes without input before the app locks itself. */
  idleLockMinutes?: number;
}

export interface Session {
  client: HandoverClient;
  cases: CaseService;
  online: boolean;
  /** The first sign-in of this session is still under way (the bar says "Connecting…", not "Offline"). */
  connecting: boolean;
  /** The relay refused this device for good (it or its org was revoked): the bar says so, and nothing retries. */
  revoked: boolean;
  /** This device sends read receipts when a thread is opened (the org's choice; off unless turned on). */
  readReceipts: boolean;
  /** This device's settings (lock time, notifications), from its encrypted storage. */
  settings: WebSettings;
  /** Messages not seen on this device yet, per thread. */
  unread: UnreadMarks;
  /** Thread actions waiting for the relay (kept in the vault: they survive a reload). */
  outbox: Outbox;
}

export type Screen = (root: HTMLElement) => void | Promise<void>;

const LANGUAGE_KEY = 'handover.language';

export class App {
  session: Session | undefined;
  private screen: Screen | undefined;
  /** The screen whose page is shown now. */
  private rendered: Screen | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly sessionListeners: Array<() => void> = [];
  /** Called when something changed in a thread (the inbox and thread screens re-render). */
  private updateListener: ((threadId: string | undefined) => void) | undefined;
  /** The thread on screen now (its messages are seen as they arrive). */
  private shownThread: string | undefined;
  /** The screen after a lock (unlock) and the home screen (the inbox): set by main.ts, so screens need not import each other. */
  lockScreen: Screen = () => undefined;
  homeScreen: Screen = () => undefined;
  /** The settings screen (settings.ts), linked from the bar; restore from a backup (restore.ts), linked from set-up. */
  settingsScreen: Screen = () => undefined;
  restoreScreen: Screen = () => undefined;
  outboxScreen: Screen = () => undefined;

  constructor(
    readonly crypto: Crypto,
    readonly storage: IndexedDbStorage,
    readonly config: AppConfig,
    private readonly root: HTMLElement,
    private readonly bar: HTMLElement,
  ) {
    const saved = localStorage.getItem(LANGUAGE_KEY);
    this.applyLanguage(isLanguage(saved) ? saved : 'en');
    for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const) document.addEventListener(type, () => this.touch(), { passive: true });
  }

  get relayUrl(): string {
    return this.config.relay ?? window.location.origin;
  }

  applyLanguage(lang: Language): void {
    setLanguage(lang);
    localStorage.setItem(LANGUAGE_KEY, lang);
    document.documentElement.lang = lang;
    document.documentElement.dir = CATALOGUE_META[lang].dir;
    // The title names the app only: never a case (a shared office computer shows titles in its task bar).
    document.title = t('app.name');
    const banner = document.getElementById('banner');
    if (banner && !banner.hidden) banner.textContent = t('app.development');
    this.renderBar();
  }

  renderBar(): void {
    clear(this.bar);
    const select = h('select', { id: 'language', 'aria-label': t('app.language') });
    for (const lang of LANGUAGES) {
      const option = h('option', { value: lang, lang, selected: lang === language() }, CATALOGUE_META[lang].name);
      select.appendChild(option);
    }
    on(select, 'change', () => {
      if (isLanguage(select.value)) {
        this.applyLanguage(select.value);
        void this.refresh();
      }
    });
    const tools = h('div', { class: 'tools' }, h('label', { for: 'language' }, t('app.language')), select);
    if (this.session) {
      const state = this.session.revoked ? 'revoked' : this.session.online ? 'connected' : this.session.connecting ? 'connecting' : 'offline';
      // Revoked is a security state, not a network one: said as an alert, in the warning style.
      tools.appendChild(
        h(
          'span',
          { id: 'connection', role: state === 'revoked' ? 'alert' : 'status', 'data-state': state, ...(state === 'revoked' ? { class: 'revoked' } : {}) },
          t(`app.${state === 'connected' ? 'online' : state}`),
        ),
      );
      const session = this.session;
      // What waits for the relay: a count only (the outbox screen lists it).
      tools.appendChild(on(h('button', { type: 'button', id: 'open-outbox', class: 'secondary' }, t('outbox.open', { count: session.outbox.count })), 'click', () => void this.show(this.outboxScreen)));
      const receipts = h('input', { type: 'checkbox', id: 'read-receipts', checked: session.readReceipts });
      on(receipts, 'change', () => {
        session.readReceipts = receipts.checked;
        void session.client.setReadReceipts(receipts.checked);
      });
      tools.appendChild(h('label', { class: 'switch' }, receipts, ` ${t('app.readReceipts')}`));
      tools.appendChild(on(h('button', { type: 'button', id: 'open-settings', class: 'secondary' }, t('settings.open')), 'click', () => void this.show(this.settingsScreen)));
      tools.appendChild(on(h('button', { type: 'button', id: 'lock', class: 'secondary' }, t('app.lock')), 'click', () => void this.lock()));
    }
    this.bar.append(h('span', { class: 'name' }, t('app.name')), tools);
  }

  /** Show a screen (replacing the last one). */
  async show(screen: Screen): Promise<void> {
    this.screen = screen;
    this.updateListener = undefined;
    this.shownThread = undefined;
    await this.refresh();
  }

  goHome(): Promise<void> {
    return this.show(this.homeScreen);
  }

  async refresh(): Promise<void> {
    const screen = this.screen;
    if (!screen) return;
    const next = h('div', { class: 'screen' });
    try {
      await screen(next);
    } catch (err) {
      next.appendChild(h('p', { class: 'error', role: 'alert' }, t('app.error', { message: errorText(err) })));
    }
    // A screen replaced while it was loading is not shown.
    if (this.screen !== screen) return;
    // The same screen again (a live update, a language change): what the person was typing, and where, stays.
    const again = this.rendered === screen;
    const typed = again ? typedValues(this.root) : new Map<string, { value: string; focused: boolean }>();
    clear(this.root);
    this.root.appendChild(next);
    this.rendered = screen;
    let refocused = false;
    for (const el of fields(next)) {
      const kept = typed.get(fieldKey(el));
      if (!kept) continue;
      el.value = kept.value;
      if (kept.focused) {
        el.focus();
        refocused = true;
      }
    }
    const heading = next.querySelector('h1');
    if (heading && !again) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    } else if (heading && !refocused) heading.setAttribute('tabindex', '-1');
  }

  /** The thread screen says which thread it shows: its unread mark is cleared, now and as messages arrive. */
  threadShown(threadId: string): void {
    this.shownThread = threadId;
    this.session?.unread.seen(threadId);
  }

  /** The inbox and thread screens ask to be told when a thread changes. */
  onThreadUpdate(listener: (threadId: string | undefined) => void): void {
    this.updateListener = listener;
  }

  async startSession(client: HandoverClient): Promise<void> {
    const cases = new CaseService({ transport: client });
    const [readReceipts, settings, unread, outbox] = await Promise.all([
      client.readReceiptsEnabled(),
      loadSettings(client),
      UnreadMarks.load(client),
      Outbox.load(client, cases),
    ]);
    const session: Session = { client, cases, online: false, connecting: true, revoked: false, readReceipts, settings, unread, outbox };
    this.session = session;
    this.sessionListeners.push(
      // Another device's message, stored for the first time: unread unless its thread is on screen; a
      // notification (fixed text, no case data) when the person opted in and the tab is in the background.
      client.on('message', (message) => {
        if (message.senderDeviceId === client.deviceId) return;
        if (this.shownThread !== message.threadId) session.unread.add(message.threadId);
        notifyActivity(session.settings.notifications);
      }),
      client.on('connection', (state) => {
        session.online = state === 'connected';
        if (state === 'revoked') session.revoked = true;
        this.renderBar();
        // The socket came back by itself (the relay restarted): what waited goes now.
        if (session.online) void this.sendWaiting(session);
      }),
      outbox.onChange(() => {
        this.renderBar();
        this.updateListener?.(undefined);
      }),
      cases.onUpdate((update) => this.updateListener?.(update.threadId)),
      // Delivery notices name a message, not a thread: the screen on show refreshes its delivery state,
      // once the client has recorded the notice (it tells before it records).
      client.on('delivered', () => void client.idle().then(() => this.updateListener?.(undefined))),
      client.on('expired', () => void client.idle().then(() => this.updateListener?.(undefined))),
      client.on('failed', () => this.updateListener?.(undefined)),
      client.on('opened', (r) => this.updateListener?.(r.threadId)),
      // A forwarded message of a history transfer: the inbox shows how far the transfer got.
      client.on('history', () => this.updateListener?.(undefined)),
    );
    this.renderBar();
    this.touch();
    // The inbox opens from this browser's own copy at once; signing in, fetching what waited and finishing
    // half-done work go on behind it (on a slow link that takes seconds, and the bar says so).
    void this.goOnlineInBackground(session);
  }

  /** Sign in, fetch what waited, finish the case layer's unfinished work, send the outbox: the session's first connect. */
  private async goOnlineInBackground(session: Session): Promise<void> {
    const online = await this.goOnline(session);
    session.connecting = false;
    if (this.session !== session) {
      // Locked while signing in: the socket opened for a session that is gone is closed again.
      await session.client.close();
      return;
    }
    if (!online && !session.revoked) this.retryOnline(session, 5_000);
    try {
      await session.cases.start();
    } catch (err) {
      // start() records each thread's failure itself; anything else is the vault going away (a lock).
      console.warn('the case layer could not finish its start:', errorText(err));
    }
    if (this.session !== session) return;
    this.renderBar();
    this.updateListener?.(undefined);
    if (session.online) await this.sendWaiting(session);
  }

  /** Send what the outbox and the case layer's referral outbox hold; a failure stays listed in the outbox. */
  private async sendWaiting(session: Session): Promise<void> {
    if (this.session !== session) return;
    try {
      await session.outbox.flush();
      if ((await session.cases.pendingReferrals()).length > 0) await session.cases.finishPendingReferrals();
      await session.outbox.countReferrals();
    } catch (err) {
      // The items stay in the outbox (listed there, tried at the next connect); a lock in between ends the session's vault.
      console.warn('the outbox could not be sent now:', errorText(err));
    }
    this.updateListener?.(undefined);
  }

  /** Sign in, open the socket and fetch what waited; false when the relay cannot be reached. */
  private async goOnline(session: Session): Promise<boolean> {
    try {
      await session.client.connect();
      session.online = true;
      await session.client.sync();
      return true;
    } catch (err) {
      // Offline is a state the bar shows, not a failure: the profile and its cases open from this browser.
      // Revoked is final: the bar says so and nothing retries.
      session.online = false;
      if (isHandoverError(err, 'REVOKED')) session.revoked = true;
      return false;
    }
  }

  /** While this session lasts and is offline, try again, waiting longer each time (at most a minute). */
  private retryOnline(session: Session, waitMs: number): void {
    this.retryTimer = setTimeout(() => {
      if (this.session !== session || session.online || session.revoked) return;
      void this.goOnline(session).then(async (online) => {
        if (this.session !== session) return;
        this.renderBar();
        if (online) {
          await session.cases.start();
          this.updateListener?.(undefined);
          await this.sendWaiting(session);
        } else this.retryOnline(session, Math.min(waitMs * 2, 60_000));
      });
    }, waitMs);
  }

  /** Drop the session and empty the page: after this nothing readable is left in the DOM. */
  async lock(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.idleTimer = undefined;
    this.retryTimer = undefined;
    this.updateListener = undefined;
    const session = this.session;
    this.session = undefined;
    this.screen = undefined;
    this.rendered = undefined;
    clear(this.root);
    for (const off of this.sessionListeners.splice(0)) off();
    this.renderBar();
    if (session) {
      session.cases.dispose();
      session.outbox.dispose();
      // Work already queued finishes before the vault's key is wiped (a write after the wipe would be lost).
      await session.outbox.idle();
      await session.cases.idle();
      await session.unread.flush().catch((err: unknown) => {
        // The lock must happen whatever failed: the marks in memory go with the session, the last ones written stay.
        document.documentElement.dataset.unreadError = errorText(err).slice(0, 100);
      });
      await session.client.lock();
    }
    await this.show(this.lockScreen);
  }

  /** The lock time changed (settings): count it from now. */
  restartIdleLock(): void {
    this.touch();
  }

  private touch(): void {
    if (!this.session) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const minutes = effectiveLockMinutes(this.session.settings, this.config.idleLockMinutes);
    this.idleTimer = setTimeout(() => void this.lock(), minutes * 60_000);
  }
}

type TextField = HTMLInputElement | HTMLTextAreaElement;
const TEXT_FIELDS = 'form[id] textarea, form[id] input[type="text"], form[id] input[type="datetime-local"], form[id] input[type="tel"]';

function fields(root: ParentNode): TextField[] {
  return Array.from(root.querySelectorAll<TextField>(TEXT_FIELDS));
}
function fieldKey(el: TextField): string {
  return `${el.form?.id ?? ''}/${el.name}`;
}
function typedValues(root: ParentNode): Map<string, { value: string; focused: boolean }> {
  const typed = new Map<string, { value: string; focused: boolean }>();
  for (const el of fields(root)) if (el.value && !el.readOnly) typed.set(fieldKey(el), { value: el.value, focused: document.activeElement === el });
  return typed;
}

/** An error as one line for people: the SDK's typed errors carry a readable message. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
