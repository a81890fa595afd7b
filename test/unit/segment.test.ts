// Which addresses a drill's TCP probe tries: the guest's link-local IPv6 addresses, each on the tap
// of the NIC whose MAC the guest reports for it (any interface's, when the NIC has no MAC).
import { describe, expect, it } from 'vitest';
import type { GuestInterface } from '../../source/qemu/guest-agent.ts';
import { linkLocalTargets, segmentName } from '../../source/qemu/segment.ts';

const interfaces: GuestInterface[] = [
	{ name: 'lo', mac: '00:00:00:00:00:00', addresses: [{ family: 'ipv6', address: '::1', prefix: 128 }] },
	{ name: 'ens3', mac: '52:54:00:7d:00:01', addresses: [{ family: 'ipv4', address: '10.0.2.15', prefix: 24 }, { family: 'ipv6', address: 'fe80::5054:ff:fe7d:1', prefix: 64 }] },
	{ name: 'ens4', mac: '52:54:00:7d:00:02', addresses: [{ family: 'ipv6', address: 'fe80::5054:ff:fe7d:2', prefix: 64 }, { family: 'ipv6', address: '2001:db8::2', prefix: 64 }] },
];

describe('the TCP probe', () => {
	it('tries each NIC’s tap at the link-local addresses of the guest interface with its MAC (any MAC spelling)', () => {
		expect(linkLocalTargets(['52-54-00-7D-00-02', '52:54:00:7d:00:01'], ['tap0', 'tap1'], interfaces)).toEqual(['fe80::5054:ff:fe7d:2%tap0', 'fe80::5054:ff:fe7d:1%tap1']);
	});

	it('without a MAC, tries every interface’s link-local address on that tap; never loopback, global or IPv4 addresses', () => {
		expect(linkLocalTargets([null], ['tap0'], interfaces)).toEqual(['fe80::5054:ff:fe7d:1%tap0', 'fe80::5054:ff:fe7d:2%tap0']);
		expect(linkLocalTargets(['52:54:00:99:99:99'], ['tap0'], interfaces)).toEqual([]);
	});

	it('names a namespace by what it belongs to, short and stable', () => {
		expect(segmentName('/lab/run', 'pg01')).toBe(segmentName('/lab/run', 'pg01'));
		expect(segmentName('/lab/run', 'pg01')).not.toBe(segmentName('/other/run', 'pg01'));
		expect(segmentName('libvirt', 's1')).toMatch(/^rundirect-[0-9a-f]{12}$/);
	});
});
