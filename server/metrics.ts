/**
 * Prometheus metrics. One registry per relay instance (tests run several in
 * one process). Labels are route templates and error codes, never ids.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface RelayMetrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  envelopesAccepted: Counter;
  envelopesRefused: Counter<'code'>;
  sendsShed: Counter;
  envelopeBytes: Histogram;
  acceptSeconds: Histogram;
  deliveries: Counter;
  acks: Counter;
  expired: Counter;
  socketsConnected: Gauge;
  socketRefusals: Counter<'code'>;
  storeErrors: Counter;
}

export function createMetrics(withDefaults = true): RelayMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'handover_' });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'handover_http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    envelopesAccepted: new Counter({ name: 'handover_envelopes_accepted_total', help: 'Envelopes stored in every recipient inbox', registers }),
    envelopesRefused: new Counter({
      name: 'handover_envelopes_refused_total',
      help: 'Envelopes refused, by error code',
      labelNames: ['code'],
      registers,
    }),
    sendsShed: new Counter({
      name: 'handover_sends_shed_total',
      help: 'Envelopes refused unread because the process had too many sends under way (backpressure)',
      registers,
    }),
    envelopeBytes: new Histogram({
      name: 'handover_envelope_ciphertext_bytes',
      help: 'Ciphertext size of accepted envelopes',
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216],
      registers,
    }),
    acceptSeconds: new Histogram({
      name: 'handover_envelope_accept_seconds',
      help: 'Time from receiving an envelope to its send acknowledgement',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    deliveries: new Counter({ name: 'handover_deliveries_total', help: 'Envelopes emitted to recipient sockets (including redeliveries)', registers }),
    acks: new Counter({ name: 'handover_acks_total', help: 'Recipient acknowledgements that removed an envelope from an inbox', registers }),
    expired: new Counter({ name: 'handover_envelopes_expired_total', help: 'Inbox entries that expired undelivered', registers }),
    socketsConnected: new Gauge({ name: 'handover_sockets_connected', help: 'Authenticated sockets on this process', registers }),
    socketRefusals: new Counter({
      name: 'handover_socket_refusals_total',
      help: 'Socket handshakes and events refused, by error code',
      labelNames: ['code'],
      registers,
    }),
    storeErrors: new Counter({ name: 'handover_store_unavailable_total', help: 'Requests that failed because the store was unreachable', registers }),
  };
}
