// A restore point made by libvirt's tools rather than ours: a folder holding a domain XML (as
// `virsh dumpxml` writes it) beside its disk images (qcow2 or raw). It becomes the same manifest
// a restore-point.json holds, and then goes through the same validation. Its id is the folder's
// name and its time the XML file's modification time. The XML names where each disk lived on
// its host; the image is looked for beside the XML under that file's name, and must be there.
import fs from 'node:fs/promises';
import path from 'node:path';
import { resolveDiskPath } from './disk-path.ts';
import { readImageHeader } from './image-header.ts';
import { type DomainDefinition, readDomainXml } from './libvirt-domain.ts';

export interface FolderProblem {
	field?: string;
	message: string;
}

export interface DomainPoint {
	/** The manifest as restore-point.json would hold it, still to be validated by its schema. */
	manifest: Record<string, unknown>;
	/** What the XML itself got wrong (disk types, backing files, images that are not there). */
	problems: FolderProblem[];
	/** The XML's word for a manifest field, so a refusal names what to fix in the XML. */
	fieldName: (field: string) => string;
}

const MAX_XML_BYTES = 4 * 2 ** 20;

/** The domain XMLs in `dir` (a *.xml whose root is <domain>), sorted. */
export async function domainXmlsIn(dir: string): Promise<string[]> {
	const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
	const found: string[] = [];
	for (const entry of entries) {
		if (!entry.isFile() || !entry.name.toLowerCase().endsWith('.xml')) continue;
		const file = path.join(dir, entry.name);
		const handle = await fs.open(file, 'r').catch(() => null);
		if (!handle) continue;
		try {
			const head = Buffer.alloc(4096);
			const { bytesRead } = await handle.read(head, 0, head.length, 0);
			// After the prolog and comments, the first element is the root. A DOCTYPE is let
			// through here so that the reader refuses it by name rather than the folder looking empty.
			if (/^(?:\s|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>)*<domain[\s>]/.test(head.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, ''))) found.push(file);
		} finally {
			await handle.close();
		}
	}
	return found.sort();
}

function diskLabel(definition: DomainDefinition | null, index: number): string {
	const target = definition?.disks[index]?.target;
	return `devices.disk[${index}]${target ? ` (target ${target})` : ''}`;
}

/** Where a disk the XML names lies in the restore point folder (relative), or why it does not. */
function fileInFolder(dir: string, source: string): string {
	if (!path.isAbsolute(source)) return source;
	const relative = path.relative(dir, source);
	return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.basename(source);
}

export async function readDomainPoint(dir: string, xmlFile: string): Promise<DomainPoint> {
	const stat = await fs.stat(xmlFile);
	if (stat.size > MAX_XML_BYTES) throw new Error(`is ${stat.size} bytes: too large for a domain XML`);
	const definition = readDomainXml(await fs.readFile(xmlFile, 'utf8'));
	const problems: FolderProblem[] = [];
	const disks: Array<Record<string, unknown>> = [];
	for (const [index, slot] of definition.disks.entries()) {
		const field = diskLabel(definition, index);
		if (slot.type !== 'file') {
			problems.push({ field, message: `is a disk of type '${slot.type}': a restore point's disks must be image files beside the XML` });
			continue;
		}
		if (slot.source === null) {
			problems.push({ field, message: 'has no <source file=…>: which image is it?' });
			continue;
		}
		if (slot.backing !== null) {
			problems.push({ field, message: `has a backing store (${slot.backing}): a restore point's disks must be self-contained, so it is refused` });
			continue;
		}
		const format = slot.format ?? 'raw';
		if (format !== 'qcow2' && format !== 'raw') {
			problems.push({ field, message: `is in ${format} format: a libvirt restore point's disks must be qcow2 or raw` });
			continue;
		}
		const file = fileInFolder(dir, slot.source);
		const resolved = await resolveDiskPath(dir, file);
		if (!resolved.path) {
			problems.push({ field, message: `${slot.source}: ${resolved.message ?? 'invalid'} (the image must lie in the restore point folder, beside the XML)` });
			continue;
		}
		let virtualSize: number;
		try {
			const header = await readImageHeader(resolved.path, format);
			if (header.backingFile !== null) {
				problems.push({ field, message: `${resolved.path} refers to a backing file (${header.backingFile}): a restore point's disks must be self-contained, so it is refused` });
				continue;
			}
			if (header.externalData) {
				problems.push({ field, message: `${resolved.path} keeps its data in an external data file: a restore point's disks must be self-contained, so it is refused` });
				continue;
			}
			virtualSize = header.virtualSize;
		} catch (error) {
			problems.push({ field, message: `${resolved.path} ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist (the image must lie beside the XML)' : (error as Error).message}` });
			continue;
		}
		disks.push({ controller: slot.controller, controllerNumber: slot.controllerNumber, location: slot.location, file, format, virtualSize });
	}
	const manifest = {
		schemaVersion: 1,
		id: path.basename(dir),
		takenAt: stat.mtime.toISOString(),
		vm: { name: definition.name ?? '', id: definition.uuid ?? '', ...definition.settings },
		disks,
	};
	// Only disks that passed are in the manifest: its indexes are theirs, not the XML's.
	const kept = definition.disks.flatMap((_, index) => (problems.some((problem) => problem.field === diskLabel(definition, index)) ? [] : [index]));
	const names: Record<string, string> = { 'vm.name': 'name', 'vm.id': 'uuid', 'vm.cpus': 'vcpu', 'vm.memoryMiB': 'memory', 'vm.firmware': 'os', 'vm.generation': 'os', 'vm.secureBoot': 'os.loader', takenAt: 'the XML file time', id: 'the folder name' };
	return {
		manifest,
		problems,
		fieldName: (field: string): string => {
			if (names[field]) return names[field];
			const disk = /^disks\.(\d+)(?:\.(.+))?$/.exec(field);
			if (disk) return `${diskLabel(definition, kept[Number(disk[1])] ?? Number(disk[1]))}${disk[2] ? ` ${disk[2]}` : ''}`;
			const nic = /^vm\.nics\.(\d+)(?:\.(.+))?$/.exec(field);
			if (nic) return `devices.interface[${nic[1]}]${nic[2] ? ` ${nic[2] === 'switch' ? 'source' : nic[2]}` : ''}`;
			if (field === 'disks') return 'devices.disk';
			return field;
		},
	};
}
