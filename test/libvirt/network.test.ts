// NICs on the libvirt host: a restore point's NIC goes on its libvirt network with its MAC (and
// pre-flight refuses a network that does not exist), while a drill's domain gets no NIC or one
// on an isolated network only. The private libvirtd has a network namespace of its own here, so
// the networks' bridges never touch the machine's.
import path from 'node:path';
import fs from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlanInput } from '../../source/hosts/host.ts';
import { waitFor } from '../support/lab-env.ts';
import { guestBackup, libvirtTestFile, planInput } from './support/fixtures.ts';

const libvirt = await libvirtTestFile({ network: true });
const { unavailable } = libvirt;

beforeAll(async () => {
	if (unavailable) return;
	// Isolated: no <forward>, no <ip> (so no dnsmasq either).
	const xml = path.join(libvirt.env.root, 'isolated.xml');
	await fs.writeFile(xml, "<network><name>drill-net</name><bridge name='rddrill0'/></network>\n");
	await libvirt.env.host.virsh.run(['net-define', xml]);
	await libvirt.env.host.virsh.run(['net-start', 'drill-net']);
}, 180_000);

function interfaces(xml: string): string[] {
	return [...xml.matchAll(/<interface\b[\s\S]*?<\/interface>/g)].map((match) => {
		const source = /<source network='([^']+)'/.exec(match[0])?.[1];
		const mac = /<mac address='([^']+)'/.exec(match[0])?.[1];
		return `${source} ${mac}`;
	});
}

describe.skipIf(unavailable !== null)('NICs and drills on the libvirt host', () => {
	it('a NIC on a missing network is refused; a drill puts it on the isolated network only, or leaves it out', async () => {
		const { host } = libvirt.env;
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'net01', 'p1'));
		const base = planInput('n1', 'net01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]);
		const withNic: PlanInput = { ...base, settings: { ...base.settings, nics: [{ switch: 'prod-net', mac: '52:54:00:AA:BB:01', vlan: null }] } };

		const refused = await host.preflight(await host.plan(withNic));
		expect(refused).toEqual([expect.stringMatching(/libvirt network prod-net, which does not exist here/)]);

		const drill = await host.plan({ ...withNic, drill: { isolatedSwitch: 'drill-net' } });
		expect(host.drillNetwork('drill-net')).toMatch(/^NICs on the isolated libvirt network drill-net; a VM with TCP checks: its NICs on taps in a network namespace of its own/);
		expect(await host.preflight(drill)).toEqual([]);
		await host.createDisks(drill);
		await host.createSnapshotLayer(drill);
		await host.startVm(drill);
		expect(interfaces(await host.virsh.run(['dumpxml', 'net01']))).toEqual(['drill-net 52:54:00:aa:bb:01']);
		await waitFor('the drill guest marker', 90_000, async () => ((await host.status(drill)).guestAlive ? true : undefined), 500);
		expect((await host.captureEvidence(drill)).text).toContain('RUNDIRECT-GUEST-ALIVE');
		await host.discard(drill);

		const unplugged = await host.plan({ ...withNic, sessionId: 'n2', drill: { isolatedSwitch: null } });
		expect(host.drillNetwork(null)).toMatch(/^no NIC; /);
		expect(await host.preflight(unplugged)).toEqual([]);
		await host.createDisks(unplugged);
		await host.createSnapshotLayer(unplugged);
		await host.startVm(unplugged);
		expect(interfaces(await host.virsh.run(['dumpxml', 'net01']))).toEqual([]);
		await host.discard(unplugged);
		expect(await host.domains.names()).toEqual([]);
	});
});
