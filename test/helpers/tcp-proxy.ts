/**
 * A TCP proxy on 127.0.0.1 between a client and a server, for network faults without
 * netem or iptables: `freeze()` stops forwarding both ways (bytes wait in the kernel, as
 * on a link that went silent), `thaw()` resumes, `cut()` resets every connection, and a
 * `watch` hook sees each client→server chunk and may hold it (the link freezes with it
 * unsent) until the test has done what it wanted at exactly that point.
 */
import * as net from 'node:net';

/** What `watch` answers for a chunk: forward it, or hold it (and freeze) until `thaw()`. */
export type Verdict = 'pass' | 'hold';

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
  held: Buffer[];
}

/** A proxy to `127.0.0.1:targetPort`. */
export class TcpProxy {
  readonly #target: number;
  readonly #pairs = new Set<Pair>();
  #server: net.Server | undefined;
  #frozen = false;
  /** Client→server bytes forwarded so far (all connections). */
  forwarded = 0;
  /** Sees each client→server chunk before it is forwarded. */
  watch: ((chunk: Buffer, forwarded: number) => Verdict) | undefined;

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  /** Listens on a random port; resolves with it. */
  listen(): Promise<number> {
    const srv = net.createServer((client) => this.#accept(client));
    this.#server = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
    });
  }

  #accept(client: net.Socket): void {
    const server = net.connect(this.#target, '127.0.0.1');
    const pair: Pair = { client, server, held: [] };
    this.#pairs.add(pair);
    const end = (): void => {
      client.destroy();
      server.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    if (this.#frozen) {
      client.pause();
      server.pause();
    }
    server.on('data', (d: Buffer) => client.write(d));
    client.on('data', (d: Buffer) => {
      if (this.#frozen) {
        pair.held.push(d);
        return;
      }
      if (this.watch?.(d, this.forwarded) === 'hold') {
        pair.held.push(d);
        this.freeze();
        return;
      }
      this.forwarded += d.length;
      server.write(d);
    });
  }

  /** Stops forwarding both ways. */
  freeze(): void {
    this.#frozen = true;
    for (const p of this.#pairs) {
      p.client.pause();
      p.server.pause();
    }
  }

  /** Forwards what was held, then everything again. */
  thaw(): void {
    this.#frozen = false;
    for (const p of this.#pairs) {
      for (const d of p.held.splice(0)) {
        this.forwarded += d.length;
        p.server.write(d);
      }
      p.client.resume();
      p.server.resume();
    }
  }

  /** Resets every open connection (new ones are still accepted). */
  cut(): void {
    for (const p of this.#pairs) {
      p.client.resetAndDestroy();
      p.server.destroy();
    }
    this.#pairs.clear();
  }

  /** Closes the proxy and every connection. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
