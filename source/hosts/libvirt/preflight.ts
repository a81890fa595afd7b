// Problems that forbid a restore on this libvirt host, found before anything changes: the URI
// answers, the backups are images QEMU opens (self-contained), the names are free, the
// networks exist, there is room, and the firmware is there.
import fs from 'node:fs/promises';
import { execa } from 'execa';
import type { RestorePlan } from '../host.ts';
import type { Domains } from './domains.ts';
import { imageInfo, measureQcow2, QEMU_IMG } from '../../qemu/qemu-img.ts';
import { exists } from '../../core/files.ts';
import { existingAncestor, freeBytes } from '../../core/space.ts';

function formatSize(bytes: number): string {
	return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`;
}

export async function preflightProblems(domains: Domains, plan: RestorePlan, local: boolean): Promise<string[]> {
	const virsh = domains.virsh;
	const version = await virsh.tryRun(['version'], { timeoutMs: 60_000, reconnectMs: 5_000 });
	if (!version.ok) return [`libvirt at ${virsh.uri} does not answer (${version.stderr.replace(/^error:\s*/gm, '').split('\n').join('; ')}): check that libvirtd runs and that you may connect to it`];
	if (!local) {
		return [
			`${virsh.uri} is a remote libvirt: the overlays and production images are made with file operations on this machine, so restores need a libvirt here (qemu:///system), or its storage mounted here at the same paths (set RUNDIRECT_LIBVIRT_SHARED_STORAGE=1)`,
		];
	}
	const problems: string[] = [];
	const qemuImg = await execa(QEMU_IMG, ['--version'], { reject: false, timeout: 10_000 });
	if (qemuImg.failed) problems.push(`${QEMU_IMG} is not installed or does not run; install the qemu-utils package`);
	if (plan.disks.length === 0) problems.push('The restore point has no disks');
	if (plan.settings.firmware === 'uefi') {
		const caps = await virsh.tryRun(['domcapabilities']);
		if (caps.ok && !/<value>efi<\/value>/.test(caps.stdout)) problems.push(`VM ${plan.vmName} needs UEFI firmware but libvirt offers none here; install the ovmf package`);
	}

	let required = 0;
	for (const disk of plan.disks) {
		const readable = await fs.access(disk.backup, fs.constants.R_OK).then(() => null, (error: NodeJS.ErrnoException) => error.code ?? 'error');
		if (readable) {
			problems.push(`Backup disk ${disk.backup} cannot be read (${readable}): check that the backup destination is mounted and readable`);
			continue;
		}
		const info = await imageInfo(disk.backup).catch((error: { stderr?: string; message: string }) => (error.stderr || error.message).trim().replace(/\s*\n\s*/g, ' '));
		if (typeof info === 'string') {
			problems.push(`Backup disk ${disk.backup} cannot be opened read-only by qemu-img: ${info}`);
			continue;
		}
		if (info.format !== disk.format) problems.push(`Backup disk ${disk.backup} is ${info.format}, but the restore point says ${disk.format}: the restore point is inconsistent`);
		else if (info.virtualSize !== disk.virtualSize) problems.push(`Backup disk ${disk.backup} has a virtual size of ${info.virtualSize} bytes, but the restore point says ${disk.virtualSize}`);
		// A backing or data file would make QEMU open a file outside the restore point.
		if (info.backing !== null) problems.push(`Backup disk ${disk.backup} refers to a backing file (${info.backing}): a restore point's disks must be self-contained, so it is refused`);
		if (info.dataFile !== null) problems.push(`Backup disk ${disk.backup} refers to an external data file (${info.dataFile}): a restore point's disks must be self-contained, so it is refused`);
		required += await measureQcow2(disk.backup, disk.format).catch(() => disk.virtualSize);
	}

	// Names: the domain replaced (set aside or deleted), nothing else of that name in the way.
	const current = await domains.facts(plan.vmName);
	if (current?.restoreSession && current.restoreSession !== plan.sessionId) problems.push(`Domain ${plan.vmName} runs from a backup in session ${current.restoreSession}: finalize or stop that session first`);
	else if (current && current.restoreSession !== plan.sessionId && plan.replaces !== plan.vmName) problems.push(`A domain named ${plan.vmName} exists, but this restore was planned without replacing it: plan the restore again`);
	if (current && plan.replaces === plan.vmName && plan.replaceMode === 'set-aside') {
		if (!current.persistent) problems.push(`Domain ${plan.vmName} is transient and cannot be set aside: define it first, or replace it with --delete-replaced`);
		const snapshots = await virsh.tryRun(['snapshot-list', plan.vmName, '--name']);
		if (snapshots.ok && snapshots.stdout.trim() !== '') problems.push(`Domain ${plan.vmName} has snapshots, and libvirt cannot rename a domain with snapshots to set it aside: delete them, or replace it with --delete-replaced`);
	}

	// Networks: a drill uses only its isolated network (or none); a restore, the restore point's.
	const networks = plan.drill ? (plan.drill.isolatedSwitch === null || plan.drill.tcpProbe ? [] : [plan.drill.isolatedSwitch]) : plan.settings.nics.flatMap((nic) => (nic.switch === null ? [] : [nic.switch]));
	for (const network of new Set(networks)) {
		const info = await virsh.tryRun(['net-info', network]);
		if (!info.ok) problems.push(`VM ${plan.vmName} has a NIC on the libvirt network ${network}, which does not exist here: create it (virsh net-define), or restore as a drill`);
	}

	// Production files in the way that are not this session's.
	const ours = current !== null && current.restoreSession === plan.sessionId;
	for (const disk of plan.disks) {
		if (!ours && (await exists(disk.production))) problems.push(`Production file ${disk.production} already exists and does not belong to this session: remove it or restore to another location or name`);
	}
	const anchor = await existingAncestor(plan.productionDir);
	if (!(await fs.access(anchor, fs.constants.W_OK | fs.constants.X_OK).then(() => true, () => false))) {
		problems.push(`Production folder ${plan.productionDir} cannot be created: ${anchor} is not writable; choose another location`);
		return problems;
	}

	// Room: the production copies plus a margin for the snapshot layers.
	const virtualTotal = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
	const overlayMargin = Math.min(virtualTotal * 0.1, 10 * 2 ** 30) + 64 * 2 ** 20;
	try {
		const sameDevice = (await fs.stat(anchor)).dev === (await fs.stat(await existingAncestor(plan.workDir))).dev;
		const need = required + (sameDevice ? overlayMargin : 0);
		const free = await freeBytes(plan.productionDir);
		if (free < need) problems.push(`Not enough room in ${anchor}: ${formatSize(free)} free, ${formatSize(need)} needed; free space there or restore to another --location`);
		if (!sameDevice && (await freeBytes(plan.workDir)) < overlayMargin) problems.push(`Not enough room for the snapshot layers in ${await existingAncestor(plan.workDir)}`);
	} catch (error) {
		problems.push(`Cannot check free space for ${plan.productionDir}: ${(error as Error).message}`);
	}
	return problems;
}
