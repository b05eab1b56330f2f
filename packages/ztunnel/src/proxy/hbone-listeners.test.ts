import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { silentLogger } from '@ambit/core';
import { WorkloadListeners } from './hbone-listeners.js';

describe('WorkloadListeners', () => {
  it('reports a failed bind by ip:port and listener set, and binds once the port is free', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    const listeners = new WorkloadListeners(port, (socket) => socket.destroy(), silentLogger, 'SOCKS5');
    try {
      await listeners.reconcile(['127.0.0.1']);
      const [failure, ...rest] = listeners.failures();
      assert.deepEqual(rest, []);
      assert.equal(failure?.address, `127.0.0.1:${port}`);
      assert.equal(failure?.listener, 'SOCKS5');
      assert.match(failure?.error ?? '', /EADDRINUSE/);
      assert.deepEqual(listeners.addresses(), []);
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      await listeners.reconcile(['127.0.0.1']);
      assert.deepEqual(listeners.failures(), []);
      assert.deepEqual(listeners.addresses().map((a) => `${a.ip}:${a.port}`), [`127.0.0.1:${port}`]);
    } finally {
      listeners.close();
      if (holder.listening) holder.close();
    }
  });
});
