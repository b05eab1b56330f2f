import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { socketAddress, type Authorization, type WaypointBinding } from '@ambit/api';
import { ListLookup, workload } from './testing.js';
import { authorizeInbound, type InboundCheck } from './rbac.js';

const waypoint: WaypointBinding = { gateway: 'demo/waypoint', address: '10.0.0.50', port: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/waypoint' };
const server = workload('server', { ip: '10.0.0.2' });
const guarded = workload('guarded', { ip: '10.0.0.3', waypoint });
const legacy = workload('legacy', { ip: '10.0.0.4', protocol: 'TCP' });
const elsewhere = workload('elsewhere', { ip: '10.0.1.2', node: 'node-b' });
const secret = workload('secret', { ip: '10.0.0.5', namespace: 'vault', labels: { app: 'secret' } });

const denyOther: Authorization = {
  key: 'demo/deny-other', name: 'deny-other', namespace: 'demo', scope: { kind: 'namespace', namespace: 'demo' }, action: 'DENY',
  rules: [{ from: [{ namespaces: ['other'] }], to: [] }],
};
const strict: Authorization = {
  key: 'vault/strict', name: 'strict', namespace: 'vault', scope: { kind: 'namespace', namespace: 'vault' }, action: 'DENY',
  rules: [{ from: [{ notPrincipals: ['*'] }], to: [] }],
};
const allowClient: Authorization = {
  key: 'vault/allow-client', name: 'allow-client', namespace: 'vault', scope: { kind: 'workload', namespace: 'vault', selector: { app: 'secret' } },
  action: 'ALLOW', rules: [{ from: [{ principals: ['cluster.local/ns/demo/sa/client'] }], to: [{ ports: [8080] }] }],
};

type Input = Omit<Partial<InboundCheck>, 'target'> & { target: string };

const lookup = new ListLookup([server, guarded, legacy, elsewhere, secret], [], [denyOther, strict, allowClient]);
const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
const OTHER = 'spiffe://cluster.local/ns/other/sa/intruder';

function check(partial: Input): ReturnType<typeof authorizeInbound> {
  const [ip, port] = partial.target.split(':') as [string, string];
  return authorizeInbound(lookup, 'node-a', {
    peerIdentity: 'peerIdentity' in partial ? partial.peerIdentity : CLIENT,
    sourceIp: partial.sourceIp ?? '10.0.9.9',
    target: socketAddress(ip, Number(port)),
    ...(partial.localIp === undefined ? {} : { localIp: partial.localIp }),
  });
}

describe('inbound authorization', () => {
  const allowed: { name: string; input: Input; policy?: string }[] = [
    { name: 'an enrolled local pod with no policy', input: { target: '10.0.0.2:8080', localIp: '10.0.0.2' } },
    { name: 'in process (no local address to compare)', input: { target: '10.0.0.2:8080' } },
    { name: 'a pod behind a waypoint, from the waypoint', input: { target: '10.0.0.3:80', peerIdentity: waypoint.identity } },
    { name: 'an ALLOW policy that matches principal and port', input: { target: '10.0.0.5:8080' }, policy: 'vault/allow-client' },
  ];
  for (const c of allowed) {
    it(`allows ${c.name}`, () => {
      const result = check(c.input);
      assert.equal(result.decision.allowed, true);
      assert.equal(result.decision.policy, c.policy);
    });
  }

  const refused: { name: string; input: Input; code: string; reason: string; flag: string; message: RegExp }[] = [
    { name: 'an address no workload has', input: { target: '10.0.0.99:80' }, code: 'no-upstream', reason: 'not-local', flag: 'NR', message: /no workload on node node-a has address 10\.0\.0\.99/ },
    { name: 'a workload on another node', input: { target: '10.0.1.2:80' }, code: 'no-upstream', reason: 'not-local', flag: 'NR', message: /10\.0\.1\.2/ },
    { name: 'a workload outside the mesh', input: { target: '10.0.0.4:80' }, code: 'no-upstream', reason: 'not-enrolled', flag: 'NR', message: /demo\/legacy .* not enrolled/ },
    { name: 'a tunnel for another pod than the one it arrived at', input: { target: '10.0.0.2:80', localIp: '10.0.0.3' }, code: 'no-upstream', reason: 'address-mismatch', flag: 'NR', message: /arrived at 10\.0\.0\.3 but asks for 10\.0\.0\.2/ },
    { name: 'a peer that bypassed the waypoint', input: { target: '10.0.0.3:80' }, code: 'denied', reason: 'bypassed-waypoint', flag: 'DENY', message: /bypassed waypoint demo\/waypoint/ },
    { name: 'plaintext to a pod behind a waypoint', input: { target: '10.0.0.3:80', peerIdentity: undefined }, code: 'denied', reason: 'bypassed-waypoint', flag: 'DENY', message: /plaintext client/ },
    { name: 'a DENY by source namespace', input: { target: '10.0.0.2:8080', peerIdentity: OTHER }, code: 'denied', reason: 'denied-by-policy', flag: 'DENY', message: /policy demo\/deny-other denies it/ },
    { name: 'plaintext under STRICT (DENY notPrincipals *)', input: { target: '10.0.0.5:8080', peerIdentity: undefined }, code: 'denied', reason: 'denied-by-policy', flag: 'DENY', message: /plaintext client 10\.0\.9\.9 .* vault\/strict/ },
    { name: 'an ALLOW policy that matches nothing', input: { target: '10.0.0.5:9090' }, code: 'denied', reason: 'no-allow-match', flag: 'DENY', message: /no ALLOW policy/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      assert.throws(() => check(c.input), (error: unknown) => {
        assert.ok(error instanceof AmbitError);
        assert.equal(error.code, c.code);
        assert.equal(error.details.reason, c.reason);
        assert.equal(error.details.flag, c.flag);
        assert.match(error.message, c.message);
        return true;
      });
    });
  }
});
