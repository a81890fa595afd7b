// Restore points made by libvirt's tools: a domain XML (as `virsh dumpxml` writes it) beside its
// qcow2 or raw disk images. Their settings come from the XML, with the validation every restore
// point gets: disks inside the folder, no backing file pointing elsewhere, refusals naming the
// XML element at fault. And the small XML reader they rest on.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCatalog, readRestorePoint, RestorePointError } from '../../source/catalog/catalog.ts';
import { parseXml, XmlError } from '../../source/catalog/xml.ts';

let root: string;

beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-catlv-'));
});
afterEach(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

const UUID = '6f1c3d2e-8a4b-4c5d-9e6f-0a1b2c3d4e5f';

interface DiskSpec {
	source: string;
	format?: string;
	target?: string;
	bus?: string;
	extra?: string;
	type?: string;
}

/** A domain XML as `virsh dumpxml` writes it, disks named where they lived on the original host. */
function dumpxml(name: string, disks: DiskSpec[], head = ''): string {
	const diskXml = disks
		.map(
			(disk, index) => `    <disk type='${disk.type ?? 'file'}' device='disk'>
      <driver name='qemu' type='${disk.format ?? 'qcow2'}'/>
      <source file='${disk.source}'/>${disk.extra ?? ''}
      <target dev='${disk.target ?? `vd${String.fromCharCode(97 + index)}`}' bus='${disk.bus ?? 'virtio'}'/>
    </disk>`,
		)
		.join('\n');
	return `<domain type='kvm' id='7'>
  <name>${name}</name>
  <uuid>${UUID}</uuid>${head}
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${diskXml}
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sdz' bus='sata'/><readonly/></disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='prod-net' portid='1'/>
      <vlan><tag id='42'/></vlan>
      <model type='virtio'/>
    </interface>
    <!-- a comment &amp; entities: <not an element> -->
  </devices>
</domain>
`;
}

async function pointDir(vm = 'web01', id = '2026-11-30T0200Z'): Promise<string> {
	const dir = path.join(root, vm, id);
	await fs.mkdir(dir, { recursive: true });
	return dir;
}

async function qcow2(file: string, size = '64M', backing?: string): Promise<void> {
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', ...(backing ? ['-b', backing, '-F', 'qcow2'] : []), file, size]);
}

type Problem = { file: string; field?: string; message: string };

/** The problems that match `want` (a message by substring or pattern); with the rest shown on failure. */
function expectOne(problems: Problem[], want: { file?: string; field?: string; message: string | RegExp }, only = false): void {
	const found = problems.filter((problem) => (want.file === undefined || problem.file === want.file) && (want.field === undefined || problem.field === want.field) && (typeof want.message === 'string' ? problem.message.includes(want.message) : want.message.test(problem.message)));
	expect(found, JSON.stringify(problems, null, 1)).toHaveLength(1);
	if (only) expect(problems, JSON.stringify(problems, null, 1)).toHaveLength(1);
}

async function problemsOf(dir: string): Promise<Problem[]> {
	const error = await readRestorePoint(dir).catch((caught: unknown) => caught);
	expect(error).toBeInstanceOf(RestorePointError);
	return (error as RestorePointError).problems;
}

describe('restore points from libvirt (domain XML + disks)', () => {
	it('reads the settings from the XML and each disk from beside it (qcow2 and raw), as a manifest would hold them', async () => {
		const dir = await pointDir();
		await qcow2(path.join(dir, 'web01.qcow2'), '1G');
		await fs.writeFile(path.join(dir, 'data.img'), Buffer.alloc(2 * 2 ** 20));
		const xml = path.join(dir, 'web01.xml');
		await fs.writeFile(xml, dumpxml('web01', [{ source: '/var/lib/libvirt/images/web01.qcow2' }, { source: '/srv/vm/data.img', format: 'raw', target: 'sda', bus: 'scsi', extra: "\n      <address type='drive' controller='1' bus='0' target='0' unit='3'/>" }]));
		const when = new Date('2026-11-30T02:00:00Z');
		await fs.utimes(xml, when, when);

		const point = await readRestorePoint(dir);
		expect(point.manifestPath).toBe(xml);
		expect(point.manifest).toEqual({
			schemaVersion: 1,
			id: '2026-11-30T0200Z',
			takenAt: '2026-11-30T02:00:00.000Z',
			vm: { name: 'web01', id: UUID, generation: 2, firmware: 'uefi', secureBoot: true, secureBootTemplate: null, cpus: 2, memoryMiB: 1024, nics: [{ switch: 'prod-net', mac: '52:54:00:12:34:56', vlan: 42 }] },
			disks: [
				{ controller: 'virtio', controllerNumber: 0, location: 0, file: 'web01.qcow2', format: 'qcow2', virtualSize: 2 ** 30 },
				{ controller: 'scsi', controllerNumber: 1, location: 3, file: 'data.img', format: 'raw', virtualSize: 2 * 2 ** 20 },
			],
		});
		expect(point.disks.map((disk) => disk.path)).toEqual([path.join(dir, 'web01.qcow2'), path.join(dir, 'data.img')]);
		expect(point.takenAt.toISOString()).toBe('2026-11-30T02:00:00.000Z');
	});

	it('is listed by the catalog beside restore-point.json points; a folder with both reads restore-point.json', async () => {
		const dir = await pointDir('web01', 'p-xml');
		await qcow2(path.join(dir, 'disk0.qcow2'));
		await fs.writeFile(path.join(dir, 'domain.xml'), dumpxml('web01', [{ source: '/elsewhere/disk0.qcow2' }]));
		const both = await pointDir('web01', 'p-json');
		await qcow2(path.join(both, 'disk0.qcow2'));
		await fs.writeFile(path.join(both, 'domain.xml'), dumpxml('web01', [{ source: '/elsewhere/disk0.qcow2' }]));
		const manifest = { schemaVersion: 1, id: 'p-json', takenAt: '2020-01-01T00:00:00Z', vm: { name: 'web01', id: UUID, generation: 1, firmware: 'bios', cpus: 1, memoryMiB: 256, nics: [] }, disks: [{ controller: 'virtio', controllerNumber: 0, location: 0, file: 'disk0.qcow2', format: 'qcow2', virtualSize: 64 * 2 ** 20 }] };
		await fs.writeFile(path.join(both, 'restore-point.json'), JSON.stringify(manifest));
		const catalog = await readCatalog(root);
		expect(catalog.problems).toEqual([]);
		expect(catalog.points.map((point) => [point.id, path.basename(point.manifestPath), point.manifest.vm.cpus])).toEqual([
			['p-xml', 'domain.xml', 2],
			['p-json', 'restore-point.json', 1],
		]);
	});

	it('takes a disk source that lies in the folder as it is, and a relative one relative to the folder', async () => {
		const dir = await pointDir();
		await fs.mkdir(path.join(dir, 'disks'));
		await qcow2(path.join(dir, 'disks', 'a.qcow2'));
		await qcow2(path.join(dir, 'b.qcow2'));
		await fs.writeFile(path.join(dir, 'web01.xml'), dumpxml('web01', [{ source: path.join(dir, 'disks', 'a.qcow2') }, { source: 'b.qcow2' }]));
		expect((await readRestorePoint(dir)).manifest.disks.map((disk) => disk.file)).toEqual([path.join('disks', 'a.qcow2'), 'b.qcow2']);
	});

	it.each([
		['a backing store in the XML', { source: '/i/web01.qcow2', extra: "\n      <backingStore type='file'><format type='qcow2'/><source file='/i/base.qcow2'/><backingStore/></backingStore>" }, /backing store \(\/i\/base\.qcow2\).*self-contained/],
		['a block device', { source: '/dev/vg0/web01', type: 'block' }, /type 'block'/],
		['a vmdk image', { source: '/i/web01.qcow2', format: 'vmdk' }, /vmdk format/],
		['a source leading out of the folder', { source: '../other/web01.qcow2' }, /"\.\."/],
		['an image that is not beside the XML', { source: '/i/missing.qcow2' }, /does not exist/],
	])('refuses %s, naming the disk', async (_label, disk, pattern) => {
		const dir = await pointDir();
		await qcow2(path.join(dir, 'web01.qcow2'));
		await fs.writeFile(path.join(dir, 'web01.xml'), dumpxml('web01', [disk]));
		const problems = await problemsOf(dir);
		expectOne(problems, { file: path.join(dir, 'web01.xml'), field: 'devices.disk[0] (target vda)', message: pattern });
	});

	it('refuses a qcow2 image whose header names a backing file elsewhere, and leaves that file alone', async () => {
		const outside = path.join(root, 'base.qcow2');
		await qcow2(outside);
		const dir = await pointDir();
		await qcow2(path.join(dir, 'web01.qcow2'), '64M', outside);
		await fs.writeFile(path.join(dir, 'web01.xml'), dumpxml('web01', [{ source: '/i/web01.qcow2' }]));
		const problems = await problemsOf(dir);
		expectOne(problems, { field: 'devices.disk[0] (target vda)', message: `refers to a backing file (${outside})` }, true);
	});

	it('refuses a symbolic link out of the folder and a file that is not qcow2 though the XML says so', async () => {
		const outside = path.join(root, 'secret.qcow2');
		await qcow2(outside);
		const dir = await pointDir();
		await fs.symlink(outside, path.join(dir, 'web01.qcow2'));
		await fs.writeFile(path.join(dir, 'data.qcow2'), 'not an image');
		await fs.writeFile(path.join(dir, 'web01.xml'), dumpxml('web01', [{ source: '/i/web01.qcow2' }, { source: '/i/data.qcow2' }]));
		const problems = await problemsOf(dir);
		expect(problems.map((problem) => [problem.field, problem.message.replace(/^.*?(outside|not a qcow2).*$/, '$1')])).toEqual([
			['devices.disk[0] (target vda)', 'outside'],
			['devices.disk[1] (target vdb)', 'not a qcow2'],
		]);
	});

	it('names the XML element of a setting that fails the schema, and the folder mismatch', async () => {
		const dir = await pointDir('web01');
		await qcow2(path.join(dir, 'web01.qcow2'));
		const xml = dumpxml('db01', [{ source: '/i/web01.qcow2' }]).replace("<vcpu placement='static'>2</vcpu>", '<vcpu>0</vcpu>').replace(`<uuid>${UUID}</uuid>`, '<uuid>nope</uuid>');
		await fs.writeFile(path.join(dir, 'web01.xml'), xml);
		const fields = (await problemsOf(dir)).map((problem) => problem.field);
		expect(fields).toEqual(expect.arrayContaining(['vcpu', 'uuid']));
		await fs.writeFile(path.join(dir, 'web01.xml'), dumpxml('db01', [{ source: '/i/web01.qcow2' }]));
		expect(await problemsOf(dir)).toEqual([expect.objectContaining({ field: 'name', message: 'is "db01" but the VM folder is named "web01"' })]);
	});

	it.each([
		['malformed XML', (xml: string) => xml.replace('</devices>', '</device>'), /not well-formed XML: <\/device> closes <devices>/],
		['a DOCTYPE', (xml: string) => `<!DOCTYPE domain [<!ENTITY x "y">]>\n${xml}`, /not well-formed XML: a DOCTYPE/],
	])('refuses %s, changing nothing', async (_label, edit, pattern) => {
		const dir = await pointDir();
		await qcow2(path.join(dir, 'web01.qcow2'));
		await fs.writeFile(path.join(dir, 'web01.xml'), edit(dumpxml('web01', [{ source: '/i/web01.qcow2' }])));
		const before = await fs.readdir(dir);
		expectOne(await problemsOf(dir), { file: path.join(dir, 'web01.xml'), message: pattern }, true);
		expect(await fs.readdir(dir)).toEqual(before);
	});

	it('refuses a folder with two domain XMLs, and says what a folder with neither needs', async () => {
		const dir = await pointDir();
		await qcow2(path.join(dir, 'web01.qcow2'));
		await fs.writeFile(path.join(dir, 'a.xml'), dumpxml('web01', [{ source: '/i/web01.qcow2' }]));
		await fs.writeFile(path.join(dir, 'b.xml'), dumpxml('web01', [{ source: '/i/web01.qcow2' }]));
		// Not a domain: ignored.
		await fs.writeFile(path.join(dir, 'notes.xml'), '<notes/>');
		expectOne(await problemsOf(dir), { file: dir, message: '2 libvirt domain XMLs (a.xml, b.xml)' }, true);
		await fs.rm(path.join(dir, 'a.xml'));
		await fs.rm(path.join(dir, 'b.xml'));
		expectOne(await problemsOf(dir), { message: /missing: every restore point folder needs a restore-point\.json \(or a libvirt domain XML/ }, true);
	});
});

describe('the XML reader', () => {
	it('reads elements, attributes in either quote, entities, CDATA, comments and the prolog', () => {
		const root = parseXml(`\uFEFF<?xml version="1.0"?>\n<!-- c --><a x='1' y="&lt;2&amp;&#x41;&#66;'"><b/>t&gt;<![CDATA[<raw>]]><rd:c xmlns:rd='u'>z</rd:c></a>\n`);
		expect(root).toEqual({
			name: 'a',
			attributes: { x: '1', y: "<2&AB'" },
			text: 't><raw>',
			children: [
				{ name: 'b', attributes: {}, children: [], text: '' },
				{ name: 'rd:c', attributes: { 'xmlns:rd': 'u' }, children: [], text: 'z' },
			],
		});
	});

	it.each([
		['<a><b></a>', /<\/a> closes <b>/],
		['<a>', /<a> is never closed/],
		['<a/><b/>', /second root/],
		['<a x="1" x="2"/>', /attribute x twice/],
		['<a x=1/>', /quoted value/],
		['<a>&nbsp;</a>', /unknown entity/],
		['<a>&#0;</a>', /invalid character reference/],
		['<!DOCTYPE a><a/>', /DOCTYPE/],
		['text<a/>', /text outside the root/],
		['', /no root element/],
		['<a x="<"/>', /"<" in the value/],
	])('refuses %j', (text, pattern) => {
		expect(() => parseXml(text)).toThrow(XmlError);
		expect(() => parseXml(text)).toThrow(pattern);
	});

	it('bounds depth, element count and size', () => {
		expect(() => parseXml(`${'<a>'.repeat(70)}${'</a>'.repeat(70)}`)).toThrow(/deeper than 64/);
		expect(() => parseXml(`<a>${'<b/>'.repeat(20)}</a>`, { maxChars: 1e6, maxDepth: 8, maxElements: 10 })).toThrow(/more than 10 elements/);
		expect(() => parseXml('<a/>', { maxChars: 3, maxDepth: 8, maxElements: 10 })).toThrow(/too large/);
	});
});
