// The libvirt driver's pure parts, without a libvirtd: which URIs are local, the domain XML it
// writes (disks on their buses, the backup never relabeled, NICs, drills, firmware), reading
// libvirt's own XML back, and the runbook.
import { describe, expect, it } from 'vitest';
import type { RestorePlan } from '../../source/hosts/host.ts';
import { diskSlotsOf, vmSettingsOf } from '../../source/catalog/libvirt-domain.ts';
import { diskTargets, domainXml, parseDisks, restoreSessionOf } from '../../source/hosts/libvirt/domain-xml.ts';
import { sessionTaps } from '../../source/hosts/libvirt/tcp-check.ts';
import { libvirtRunbook, libvirtRunbookScript, shellQuote } from '../../source/hosts/libvirt/runbook.ts';
import { isLibvirtSpec, isLocalUri, pathRulesOfUri, uriOfSpec } from '../../source/hosts/libvirt/uri.ts';

function plan(overrides: Partial<RestorePlan> = {}): RestorePlan {
	return {
		sessionId: 's1',
		host: 'libvirt:qemu:///system',
		vmName: 'web01',
		replaces: 'web01',
		replaceMode: 'set-aside',
		productionDir: '/prod/web01',
		workDir: '/srv/rd/s1',
		disks: [
			{ index: 0, backup: '/dest/web01/p1/disk0.qcow2', format: 'qcow2', virtualSize: 1 << 26, production: '/prod/web01/disk0.qcow2', overlay: '/srv/rd/s1/disk0-overlay.qcow2', controller: 'virtio', controllerNumber: 0, location: 0 },
			{ index: 1, backup: "/dest/web01/p1/it's.vhdx", format: 'vhdx', virtualSize: 1 << 25, production: '/prod/web01/disk1.qcow2', overlay: '/srv/rd/s1/disk1-overlay.qcow2', controller: 'scsi', controllerNumber: 1, location: 3 },
		],
		settings: { generation: 2, firmware: 'uefi', secureBoot: false, secureBootTemplate: null, cpus: 2, memoryMiB: 512, nics: [{ switch: 'prod-net', mac: '00-15-5D-01-02-03', vlan: null }] },
		...overrides,
	};
}

describe('libvirt URIs', () => {
	it('names libvirt hosts and tells local from remote', () => {
		expect(['libvirt', 'libvirt:qemu:///session', 'qemu:///system', 'qemu+ssh://root@host/system'].every(isLibvirtSpec)).toBe(true);
		expect(['lab', 'hyperv', 'hyperv://srv'].some(isLibvirtSpec)).toBe(false);
		expect(uriOfSpec('libvirt', {})).toBe('qemu:///system');
		expect(uriOfSpec('libvirt', { LIBVIRT_DEFAULT_URI: 'qemu:///session' })).toBe('qemu:///session');
		expect(uriOfSpec('libvirt:qemu+tcp://127.0.0.1/system')).toBe('qemu+tcp://127.0.0.1/system');
		expect(isLocalUri('qemu:///system')).toBe(true);
		expect(isLocalUri('qemu+unix:///system?socket=/tmp/x/libvirt-sock')).toBe(true);
		expect(isLocalUri('qemu+ssh://root@127.0.0.1/system')).toBe(false);
		expect(isLocalUri('qemu+tcp://server/system')).toBe(false);
		expect(pathRulesOfUri('qemu:///system')).toEqual({ style: 'posix', local: true });
	});
});

describe('the domain XML', () => {
	it('puts each disk on its bus over its read-only backup, never relabeled, with the NICs and firmware of the restore point', () => {
		const xml = domainXml({ plan: plan(), type: 'qemu', serialFile: '/serial/s1.log' });
		expect(diskTargets(plan().disks).map((target) => target.dev)).toEqual(['vda', 'sda']);
		expect(xml).toContain("<os firmware='efi'>");
		expect(xml).toContain("<vcpu>2</vcpu>");
		expect(xml).toContain("<source file='/dest/web01/p1/it&apos;s.vhdx'><seclabel model='dac' relabel='no'/></source>");
		expect(xml).toContain("<format type='vhdx'/>");
		expect(xml).toContain("<address type='drive' controller='1' bus='0' target='0' unit='3'/>");
		expect(xml).toContain("<controller type='scsi' index='1' model='virtio-scsi'/>");
		expect(xml).toContain("<source network='prod-net'/><mac address='00:15:5d:01:02:03'/>");
		expect(restoreSessionOf(xml)).toBe('s1');
		expect(xml).toContain("<target type='virtio' name='org.qemu.guest_agent.0'/>");
		const disks = parseDisks(xml);
		expect(disks.map((disk) => [disk.target, disk.source, disk.hasBacking])).toEqual([
			['vda', '/srv/rd/s1/disk0-overlay.qcow2', true],
			['sda', '/srv/rd/s1/disk1-overlay.qcow2', true],
		]);
		// What a backup of this domain would record is what it was made from.
		expect(vmSettingsOf(xml)).toEqual(expect.objectContaining({ firmware: 'uefi', generation: 2, cpus: 2, memoryMiB: 512, nics: [{ switch: 'prod-net', mac: '00:15:5d:01:02:03', vlan: null }] }));
		expect(diskSlotsOf(xml).map((slot) => [slot.controller, slot.controllerNumber, slot.location])).toEqual([
			['virtio', 0, 0],
			['scsi', 1, 3],
		]);
	});

	it('keeps a drill off the production network: no NIC, or only the isolated network', () => {
		expect(domainXml({ plan: plan({ drill: { isolatedSwitch: null } }), type: 'qemu', serialFile: '/s' })).not.toContain('<interface');
		const isolated = domainXml({ plan: plan({ drill: { isolatedSwitch: 'drill-net' } }), type: 'qemu', serialFile: '/s' });
		expect(isolated).toContain("<source network='drill-net'/>");
		expect(isolated).not.toContain('prod-net');
	});

	it('gives a drill VM with TCP checks its NICs as taps of its own (moved into its namespace once it runs), on no libvirt network, even with an isolated one named', () => {
		const probed = plan({ drill: { isolatedSwitch: 'drill-net', tcpProbe: true } });
		const xml = domainXml({ plan: probed, type: 'qemu', serialFile: '/s' });
		const [tap] = sessionTaps(probed);
		expect(tap).toMatch(/^rd[0-9a-f]{10}0$/);
		expect((tap ?? '').length).toBeLessThanOrEqual(15);
		expect(xml).toContain(`<interface type='ethernet'><target dev='${tap}'/><mac address='00:15:5d:01:02:03'/><model type='virtio'/></interface>`);
		expect(xml).not.toContain('<source network');
		// Another session's taps never clash with these (taps start in the host's namespace).
		expect(sessionTaps(plan({ sessionId: 's2' }))[0]).not.toBe(tap);
	});

	it('keeps a NIC the restore point records as unconnected unplugged, on no network', () => {
		const base = plan();
		const xml = domainXml({ plan: { ...base, settings: { ...base.settings, nics: [{ switch: null, mac: '00-15-5D-01-02-04', vlan: null }] } }, type: 'qemu', serialFile: '/s' });
		expect(xml).toContain("<interface type='user'><mac address='00:15:5d:01:02:04'/><model type='virtio'/><link state='down'/></interface>");
		expect(xml).not.toContain('<source network=');
	});

	it('reads libvirt’s own dumpxml: the top image, the backing chain and a block-copy mirror', () => {
		const xml = `<domain><devices><disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/w/ov0.qcow2' index='1'/>
      <backingStore type='file' index='2'>
        <format type='qcow2'/>
        <source file='/d/disk0.qcow2'>
          <seclabel model='dac' relabel='no'/>
        </source>
        <backingStore/>
      </backingStore>
      <mirror type='file' file='/p/disk0.qcow2' format='qcow2' job='copy' ready='yes'>
        <format type='qcow2'/>
        <source file='/p/disk0.qcow2' index='3'/>
        <backingStore/>
      </mirror>
      <target dev='vda' bus='virtio'/>
    </disk><disk type='file' device='cdrom'><target dev='sdz' bus='sata'/></disk></devices></domain>`;
		expect(parseDisks(xml)).toEqual([
			{ target: 'vda', device: 'disk', source: '/w/ov0.qcow2', hasBacking: true, mirror: { file: '/p/disk0.qcow2', ready: true } },
			{ target: 'sdz', device: 'cdrom', source: null, hasBacking: false, mirror: null },
		]);
	});
});

describe('the runbook', () => {
	it('lists every virsh and qemu-img command of every phase, and writes them as one sh script', () => {
		const steps = libvirtRunbook(plan(), { uri: 'qemu:///system', domainType: 'qemu', serialFile: '/serial/s1.log' });
		const lines = steps.map((step) => step.invocation);
		expect(lines).toContain("virsh --connect qemu:///system domrename web01 'web01~s1'");
		expect(lines).toContain("qemu-img create -q -f qcow2 -b '/dest/web01/p1/it'\\''s.vhdx' -F vhdx /srv/rd/s1/disk1-overlay.qcow2");
		expect(lines).toContain('virsh --connect qemu:///system blockcopy web01 vda --xml /srv/rd/s1/disk0-copy.xml --shallow --reuse-external --transient-job --synchronous-writes');
		expect(lines).toContain('virsh --connect qemu:///system blockjob web01 sda --pivot');
		expect(lines).toContain("virsh --connect qemu:///system domrename 'web01~s1' web01");
		expect(new Set(steps.map((step) => step.phase))).toEqual(new Set(['start', 'finalize', 'stop']));
		const script = libvirtRunbookScript(steps, { plan: plan(), generatedAt: '2026-12-01T00:00:00Z' });
		expect(script).toMatch(/^#!\/bin\/sh\n/);
		expect(script).toContain("cat > /srv/rd/s1/domain.xml <<'RUNDIRECT_XML'");
		expect(script).toContain("relabel='no'");
		expect(shellQuote("a b'c")).toBe("'a b'\\''c'");
	});
});
