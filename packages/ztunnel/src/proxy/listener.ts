// A TCP listener that takes part in the drain: stop accepting, wait for the
// connections it accepted to close, then destroy what is left. For plain TCP
// proxying, client sockets are half-open capable so a client's FIN travels
// on without closing the other direction.
import net from 'node:net';
import { AmbitError, bindError, Tracker, type DrainParticipant, type Logger } from '@ambit/core';
import { formatAuthority, socketAddress, type SocketAddress } from '@ambit/api';

export class TcpListener implements DrainParticipant {
  readonly server: net.Server;
  private readonly sockets = new Tracker<net.Socket>();
  private bound: SocketAddress | undefined;
  private readonly log: Logger;

  /** `allowHalfOpen` is for plain TCP proxying; TLS (HBONE) listeners leave it off. */
  constructor(
    readonly name: string, private readonly handler: (socket: net.Socket) => void, logger: Logger, options: { allowHalfOpen?: boolean } = {},
  ) {
    this.log = logger.child({ component: 'listener', listener: name });
    this.server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? true, noDelay: true }, (socket) => this.onConnection(socket));
    this.server.on('error', (error) => this.log.error({ err: error.message }, 'listener error'));
  }

  /** Binds; a conflict rejects here, loudly, naming the listener and the address. */
  listen(host: string, port: number): Promise<SocketAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => reject(bindError(error, `${host}:${port}`, this.name));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address() as net.AddressInfo;
        this.bound = socketAddress(address.address, address.port);
        this.log.info({ address: formatAuthority(this.bound) }, 'listening');
        resolve(this.bound);
      });
    });
  }

  get address(): SocketAddress {
    if (this.bound === undefined) throw new AmbitError('closed', `the ${this.name} listener is not bound`);
    return this.bound;
  }

  get connections(): number {
    return this.sockets.size;
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  idle(): Promise<void> {
    return this.sockets.idle();
  }

  forceClose(): void {
    this.sockets.destroyAll();
  }

  /** Stops at once: no new connections, open ones destroyed. */
  close(): void {
    this.stopAccepting();
    this.forceClose();
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Until a handler attaches its own, an error must not crash the process.
    socket.on('error', () => undefined);
    this.handler(socket);
  }
}
