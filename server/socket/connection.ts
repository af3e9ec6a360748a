/**
 * One connected socket of an admitted device: its room, its delivery pump,
 * its four events (each answered through its acknowledgement callback, a
 * failure as a typed refusal), the per-socket refusal limit, and what is
 * replayed on connect — waiting envelopes, kept expiry notices, a low
 * prekey warning.
 */
import { HandoverError, type ClientToServerEvents, type WireError } from '../../shared';
import type { RelayConfig } from '../config';
import { errorSummary, toWireError } from '../errors';
import { readKeptNotices } from '../expiry/notice';
import type { Logger } from '../logger';
import type { RelayMetrics } from '../metrics';
import { decodeStored } from '../services/envelopes';
import type { InboxStore, NoticeStore, PrekeyStore } from '../store';
import { DeliveryPump } from './delivery';
import { DeviceEvents, type DeviceEventDeps } from './device-events';
import type { FanOut } from './fan-out';
import { deviceRoom, type RelaySocket } from './types';

/** Kept notices sent on connect (and on each sync); more wait for the next time. */
const NOTICES_PER_CONNECT = 1000;
/** Refusals per socket per minute before the relay hangs up on it. */
const ABUSE_LIMIT = 200;

export interface ConnectionDeps extends DeviceEventDeps {
  config: DeviceEventDeps['config'] & Pick<RelayConfig, 'deliveryWindow' | 'deliveryWindowBytes' | 'oneTimePrekeyLowWater'>;
  store: DeviceEventDeps['store'] & Pick<InboxStore, 'readInbox'> & Pick<NoticeStore, 'readNotices'> & Pick<PrekeyStore, 'countOneTimePrekeys'>;
  metrics: DeviceEventDeps['metrics'] & Pick<RelayMetrics, 'socketsConnected' | 'socketRefusals' | 'deliveries'>;
  fanOut: FanOut;
  logger: Pick<Logger, 'error' | 'warn'>;
}

export function serveConnection(socket: RelaySocket, deps: ConnectionDeps): void {
  const { deviceId } = socket.data;
  const { config, metrics, fanOut } = deps;
  metrics.socketsConnected.inc();
  void socket.join(deviceRoom(deviceId));
  const pump = new DeliveryPump(
    deviceId,
    deps.store,
    {
      emit: (item) => {
        metrics.deliveries.inc();
        socket.emit('envelope:deliver', item.delivery ?? decodeStored(item.blob));
      },
      readFailed: (err) => deps.logger.warn({ deviceId, err: errorSummary(err) }, 'inbox read failed; reading again shortly'),
    },
    { count: config.deliveryWindow, bytes: config.deliveryWindowBytes },
  );
  fanOut.add(deviceId, pump);
  const events = new DeviceEvents(deviceId, pump, deps);
  const refusals = new RefusalLimit(socket, deps);
  const on = ackedEvents(socket, refusals);
  on('envelope:send', (envelope) => events.send(envelope));
  on('envelope:ack', (payload) => events.ack(payload));
  // The kept notices come again before the answer, so a client that syncs and then reads has them (a CLI).
  on('inbox:sync', async () => {
    const answer = await events.sync();
    // A notice store that fails costs the notices (they come on a later connect), never the sync.
    await sendKeptNotices(socket, deps).catch((err: unknown) => deps.logger.warn({ deviceId, err: errorSummary(err) }, 'notice replay failed'));
    return answer;
  });
  on('notice:ack', (payload) => events.noticeAck(payload));

  socket.on('disconnect', () => {
    metrics.socketsConnected.dec();
    refusals.close();
    pump.close();
    fanOut.remove(deviceId, pump);
  });
  welcome(socket, pump, deps);
}

/** Send the device's kept notices (expiries, deliveries), oldest first; each comes again until acked. */
async function sendKeptNotices(socket: RelaySocket, deps: Pick<ConnectionDeps, 'store'>): Promise<void> {
  for (const k of await readKeptNotices(deps.store, socket.data.deviceId, NOTICES_PER_CONNECT)) {
    if (k.event === 'envelope:expired') socket.emit('envelope:expired', k.notice);
    else socket.emit('envelope:delivered', k.notice);
  }
}

/** Replay what waited while the device was away: envelopes, then kept notices (expiries, deliveries); and warn of few prekeys. */
function welcome(socket: RelaySocket, pump: DeliveryPump, deps: ConnectionDeps): void {
  const { deviceId } = socket.data;
  const { store, logger } = deps;
  void pump.replay().catch((err: unknown) => logger.warn({ deviceId, err: errorSummary(err) }, 'inbox replay failed'));
  void sendKeptNotices(socket, deps).catch((err: unknown) => logger.warn({ deviceId, err: errorSummary(err) }, 'notice replay failed'));
  void store
    .countOneTimePrekeys(deviceId)
    .then((remaining) => {
      if (remaining < deps.config.oneTimePrekeyLowWater) socket.emit('prekeys:low', { remaining });
    })
    // Only a warning is lost (the next connect asks again); the operator should still see the store failing.
    .catch((err: unknown) => logger.warn({ deviceId, err: errorSummary(err) }, 'one-time prekey count failed'));
}

/** Counts a socket's refusals; past the limit in a minute, the relay hangs up on it. */
class RefusalLimit {
  private count = 0;
  private readonly reset = setInterval(() => (this.count = 0), 60_000);

  constructor(
    private readonly socket: RelaySocket,
    private readonly deps: Pick<ConnectionDeps, 'metrics' | 'logger'>,
  ) {
    this.reset.unref();
  }

  /** The wire form of a refusal, counted against the socket. */
  refuse(event: string, err: unknown): WireError {
    const wire = toWireError(err);
    const { deviceId } = this.socket.data;
    this.deps.metrics.socketRefusals.inc({ code: wire.code });
    if (wire.code === 'INTERNAL') this.deps.logger.error({ err: errorSummary(err), event, deviceId }, 'socket handler failed');
    // The relay's own conditions (busy, storage down) are not the client's fault.
    if (wire.code !== 'UNAVAILABLE' && ++this.count > ABUSE_LIMIT) {
      this.deps.logger.warn({ deviceId, event }, 'too many refused events; disconnecting');
      this.socket.disconnect(true);
    }
    return wire;
  }

  close(): void {
    clearInterval(this.reset);
  }
}

type Handler = (...args: unknown[]) => Promise<object>;

/** Binds handlers whose last argument must be an ack callback; a result is answered `{ok: true, ...}`, a failure `{ok: false, error}`. */
function ackedEvents(socket: RelaySocket, refusals: RefusalLimit) {
  return <E extends keyof ClientToServerEvents>(event: E, handler: Handler): void => {
    socket.on(event, ((...args: unknown[]) => {
      const ack = args[args.length - 1];
      if (typeof ack !== 'function') {
        refusals.refuse(event, new HandoverError('BAD_REQUEST', `${event} needs an acknowledgement callback`));
        return;
      }
      const reply = ack as (r: unknown) => void;
      handler(...args.slice(0, -1))
        .then((result) => reply({ ok: true, ...result }))
        .catch((err: unknown) => reply({ ok: false, error: refusals.refuse(event, err) }));
    }) as never);
  };
}
