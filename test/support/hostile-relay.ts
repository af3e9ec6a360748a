/**
 * Test fixture: a compromised relay, played by a forwarding proxy in front
 * of an honest one. Clients talk to the proxy's URL; every HTTP answer can
 * be rewritten, delayed or replaced, and every WebSocket frame in either
 * direction can be dropped, changed or recorded, and frames can be
 * injected towards a client. This is how an attacker who owns the relay
 * (or the network path to it) works: signatures still hold, but every
 * answer and every frame is theirs to choose.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface HttpExchange {
  method: string;
  /** Path with query, e.g. `/v1/orgs/shelter-ist/bundles`. */
  path: string;
  status: number;
  /** The parsed JSON answer (undefined for a non-JSON answer). */
  body: unknown;
}

/** Return a replacement answer, or undefined to pass the honest one through. */
export type HttpRewrite = (exchange: HttpExchange) => { status: number; body: unknown } | undefined;

export type FrameDirection = 'to-client' | 'to-relay';
/** Return 'drop' to swallow the frame, a string/Buffer to replace it, or undefined to pass it. */
export type FrameHook = (frame: string | Buffer, direction: FrameDirection) => 'drop' | string | Buffer | undefined;

interface Pair {
  client: WebSocket;
  upstream: WebSocket;
}

export class HostileRelay {
  readonly rewrites: HttpRewrite[] = [];
  readonly frameHooks: FrameHook[] = [];
  /** Every HTTP exchange that passed (after rewriting), in order. */
  readonly exchanges: HttpExchange[] = [];
  /** Text frames seen in each direction (binary frames are counted, not kept). */
  readonly frames: Array<{ direction: FrameDirection; text?: string; bytes: number }> = [];
  private readonly pairs = new Set<Pair>();
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly upstreamUrl: string,
  ) {}

  static async start(upstreamUrl: string): Promise<HostileRelay> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const proxy = new HostileRelay(server, `http://127.0.0.1:${port}`, upstreamUrl);
    server.on('request', (req, res) => {
      proxy.forwardHttp(req).then(
        ({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: `proxy: ${String(err)}` } }));
        },
      );
    });
    server.on('upgrade', (req, socket, head) => proxy.forwardUpgrade(req, socket as Socket, head));
    return proxy;
  }

  /** Rewrite answers whose path matches, until the returned function is called. */
  rewrite(match: RegExp, replace: (exchange: HttpExchange) => { status: number; body: unknown } | undefined): () => void {
    const hook: HttpRewrite = (ex) => (match.test(ex.path) ? replace(ex) : undefined);
    this.rewrites.push(hook);
    return () => this.rewrites.splice(this.rewrites.indexOf(hook), 1);
  }

  /** Add a frame hook until the returned function is called. */
  onFrame(hook: FrameHook): () => void {
    this.frameHooks.push(hook);
    return () => this.frameHooks.splice(this.frameHooks.indexOf(hook), 1);
  }

  /** Send a raw frame to every connected client, as if the relay had sent it. */
  injectToClients(frame: string | Buffer): number {
    let n = 0;
    for (const { client } of this.pairs) {
      if (client.readyState === WebSocket.OPEN) {
        client.send(frame, { binary: typeof frame !== 'string' });
        n++;
      }
    }
    return n;
  }

  /** Cut every WebSocket connection (both sides), as a flaky or hostile network would. */
  cutAll(): void {
    for (const { client, upstream } of this.pairs) {
      client.terminate();
      upstream.terminate();
    }
  }

  private async forwardHttp(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: string | Buffer }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) headers[name] = value;
    }
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const res = await fetch(new URL(path, this.upstreamUrl), {
      method,
      headers,
      ...(chunks.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body: Buffer.concat(chunks) } : {}),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'text/plain' }, body: text };
    }
    let exchange: HttpExchange = { method, path, status: res.status, body };
    for (const hook of [...this.rewrites]) {
      const replaced = hook(exchange);
      if (replaced) exchange = { ...exchange, ...replaced };
    }
    this.exchanges.push(exchange);
    return { status: exchange.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(exchange.body) };
  }

  private forwardUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const target = new URL(req.url ?? '/', this.upstreamUrl);
    target.protocol = 'ws:';
    const headers: Record<string, string> = {};
    if (typeof req.headers.authorization === 'string') headers.authorization = req.headers.authorization;
    const upstream = new WebSocket(target, { headers });
    upstream.once('unexpected-response', (_r, res) => {
      // The honest relay refused the upgrade: the client gets the same status.
      socket.end(`HTTP/1.1 ${res.statusCode ?? 502} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      upstream.terminate();
    });
    upstream.once('error', () => socket.destroy());
    upstream.once('open', () => {
      this.wss.handleUpgrade(req, socket, head, (client) => {
        const pair: Pair = { client, upstream };
        this.pairs.add(pair);
        const relay = (from: WebSocket, to: WebSocket, direction: FrameDirection) => {
          from.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
            let frame: string | Buffer = isBinary ? Buffer.from(data as Buffer) : (data as Buffer).toString('utf8');
            this.frames.push({ direction, bytes: frame.length, ...(typeof frame === 'string' ? { text: frame } : {}) });
            for (const hook of [...this.frameHooks]) {
              const out = hook(frame, direction);
              if (out === 'drop') return;
              if (out !== undefined) frame = out;
            }
            if (to.readyState === WebSocket.OPEN) to.send(frame, { binary: typeof frame !== 'string' });
          });
        };
        relay(upstream, client, 'to-client');
        relay(client, upstream, 'to-relay');
        const end = () => {
          this.pairs.delete(pair);
          if (client.readyState === WebSocket.OPEN) client.close();
          if (upstream.readyState === WebSocket.OPEN) upstream.close();
        };
        client.on('close', end);
        upstream.on('close', end);
        client.on('error', end);
        upstream.on('error', end);
      });
    });
  }

  async close(): Promise<void> {
    this.cutAll();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The event name of a Socket.IO event frame (`42["name",…]` or a binary `45N-["name",…]`), if it is one. */
export function socketEventName(frame: string | Buffer): string | undefined {
  if (typeof frame !== 'string') return undefined;
  const m = /^4[25](?:\d+-)?(?:\d+)?\["([^"]+)"/.exec(frame);
  return m?.[1];
}
