// `rundirect --host libvirt backup <domain>`: a restore point of a running or shut-off domain.
// A running domain is copied by libvirt's own backup API (`virsh backup-begin`, push mode, full:
// QEMU copies a point-in-time view of each disk while the guest runs); a shut-off domain's disks
// are not in use, so qemu-img copies them. The restore point is the project's own format
// (restore-point.json, validated) plus the domain XML beside it; it is built in a hidden
// folder and renamed into place only once complete.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import writeFileAtomic from 'write-file-atomic';
import { restorePointSchema, vmNameSchema, type RestorePointManifest } from '../../catalog/schema.ts';
import { HostError } from '../../core/errors.ts';
import type { BackupResult } from '../capabilities.ts';
import type { StepOptions } from '../host.ts';
import { escapeXml } from './domain-xml.ts';
import { diskSlotsOf, vmSettingsOf } from '../../catalog/libvirt-domain.ts';
import type { Domains } from './domains.ts';
import { makeDurable } from './fill.ts';
import { imageInfo, QEMU_IMG } from '../../qemu/qemu-img.ts';

const MANIFEST = 'restore-point.json';
const DOMAIN_XML = 'domain.xml';

function pointIdNow(): string {
	return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function rawStats(text: string): Map<string, string> {
	const stats = new Map<string, string>();
	for (const line of text.split('\n')) {
		const match = /^\s*([A-Za-z_ ]+?)\s*:\s*(.*)$/.exec(line);
		if (match?.[1] && match[2] !== undefined) stats.set(match[1].trim().toLowerCase().replace(/ /g, '_'), match[2].trim());
	}
	return stats;
}

/** Push-mode full backup of every hard disk of a running domain, with progress. */
async function backupRunning(domains: Domains, name: string, targets: Array<{ dev: string; file: string }>, staging: string, options: StepOptions): Promise<void> {
	const virsh = domains.virsh;
	const xml = `<domainbackup mode='push'><disks>${targets.map((target) => `<disk name='${escapeXml(target.dev)}' backup='yes' type='file'><driver type='qcow2'/><target file='${escapeXml(target.file)}'/></disk>`).join('')}</disks></domainbackup>\n`;
	const file = path.join(staging, '.backup.xml');
	await fs.writeFile(file, xml);
	await virsh.run(['backup-begin', name, '--backupxml', file]);
	await fs.rm(file, { force: true });
	while (true) {
		if (options.signal?.aborted) {
			await virsh.tryRun(['domjobabort', name]);
			options.signal.throwIfAborted();
		}
		const stats = rawStats(await virsh.run(['domjobinfo', name, '--rawstats']));
		const type = stats.get('job_type');
		if (type === '0' || type === undefined) break;
		const total = Number(stats.get('disk_total') ?? 0);
		if (total > 0) options.onProgress?.({ done: Number(stats.get('disk_processed') ?? 0), total, detail: 'libvirt backup job' });
		await sleep(200);
	}
	const completed = rawStats(await virsh.run(['domjobinfo', name, '--completed', '--rawstats']));
	if (completed.get('job_type') !== '3' || completed.get('success') === '0') {
		throw new HostError('BACKUP_FAILED', `The libvirt backup job of ${name} did not complete (job type ${completed.get('job_type') ?? '?'}${completed.get('errmsg') ? `: ${completed.get('errmsg')}` : ''})`);
	}
	const total = Number(completed.get('disk_total') ?? 0);
	options.onProgress?.({ done: total, total, detail: 'libvirt backup job' });
}

export async function backupDomain(domains: Domains, name: string, destination: string, options: StepOptions = {}): Promise<BackupResult> {
	const valid = vmNameSchema.safeParse(name);
	if (!valid.success) throw new HostError('BAD_NAME', `Domain name ${JSON.stringify(name)} ${valid.error.issues[0]?.message ?? 'is invalid'} for a restore point`);
	const facts = await domains.facts(name);
	if (!facts) throw new HostError('NO_DOMAIN', `there is no libvirt domain named ${name} on ${domains.virsh.uri}`);
	if (facts.restoreSession !== null) throw new HostError('SESSION_DOMAIN', `${name} runs from a backup in session ${facts.restoreSession}: finalize it first, then back it up`);
	const definition = await domains.virsh.run(['dumpxml', name, '--inactive']);
	const uuid = (await domains.virsh.run(['domuuid', name])).trim();
	const slots = diskSlotsOf(facts.state === 'off' ? definition : await domains.virsh.run(['dumpxml', name]));
	if (slots.length === 0) throw new HostError('NO_DISKS', `Domain ${name} has no hard disk to back up`);

	const pointId = pointIdNow();
	const dir = path.join(destination, name, pointId);
	const staging = path.join(destination, name, `.${pointId}.partial`);
	await fs.mkdir(staging, { recursive: true });
	try {
		const files = slots.map((slot, index) => ({ dev: slot.target, file: path.join(staging, `disk${index}.qcow2`), slot }));
		if (facts.state === 'off') {
			let done = 0;
			const total = files.length;
			for (const { file, slot } of files) {
				if (!slot.source) throw new HostError('NO_SOURCE', `Disk ${slot.target} of ${name} has no source file`);
				await execa(QEMU_IMG, ['convert', '-U', ...(slot.format ? ['-f', slot.format] : []), '-O', 'qcow2', slot.source, file], { timeout: 24 * 3_600_000 });
				options.onProgress?.({ done: ++done, total, detail: `disk ${done}/${total}` });
			}
		} else {
			await backupRunning(domains, name, files, staging, options);
		}
		const disks: RestorePointManifest['disks'] = [];
		for (const { file, slot } of files) {
			await makeDurable(file);
			await fs.chmod(file, 0o444);
			disks.push({ controller: slot.controller, controllerNumber: slot.controllerNumber, location: slot.location, file: path.basename(file), format: 'qcow2', virtualSize: (await imageInfo(file)).virtualSize });
		}
		const manifest = restorePointSchema.parse({
			schemaVersion: 1,
			id: pointId,
			takenAt: new Date().toISOString(),
			vm: { name, id: uuid, ...vmSettingsOf(definition) },
			disks,
		});
		await writeFileAtomic(path.join(staging, DOMAIN_XML), definition);
		// The manifest last: a restore point is complete once it is there.
		await writeFileAtomic(path.join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
		await makeDurable(path.join(staging, MANIFEST));
		await fs.rename(staging, dir);
		return { pointId, dir, manifest };
	} catch (error) {
		await fs.rm(staging, { recursive: true, force: true });
		throw error;
	}
}
