// `rundirect lab init`: downloads the guest's Debian packages, builds the guest image, writes
// the sample backup destination and creates the lab host's VMs. Idempotent: a second run
// finds everything in place and changes nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { labPaths, type Paths } from '../core/paths.ts';
import { privateAtomic } from '../core/private-files.ts';
import { fetchGuestPackages, type Progress } from './debs.ts';
import { buildDebianImage } from './debian.ts';
import { writeDebianPoints, writeSampleDestination } from './destination.ts';
import { buildGuestImage } from './guest.ts';
import { createLabVms } from './lab-vms.ts';
import { protectedVms } from './protect.ts';
import { DEBIAN_SAMPLE_VMS, SAMPLE_VMS } from './sample.ts';
import { resolveMtools } from './tools.ts';

export interface LabInitOptions {
	onProgress?: Progress;
	/** Rebuild the sample destination and the lab VMs (not those a session is using). */
	force?: boolean;
	/** Also build the Debian guest (systemd, PostgreSQL, guest agent; root) and its restore points. */
	withDebian?: boolean;
}

export interface LabSummary {
	destination: string;
	/** The bootable guest disk (raw) in the cache. */
	guestImage: string;
	vms: string[];
	restorePoints: number;
	warnings: string[];
}

/** Overall progress: each stage owns a slice of 0…1. */
function stage(onProgress: Progress, from: number, to: number): Progress {
	return (message, fraction) => onProgress(message, fraction === undefined ? undefined : from + (to - from) * fraction);
}

export async function initLab(paths: Paths, options: LabInitOptions = {}): Promise<LabSummary> {
	const onProgress = options.onProgress ?? (() => {});
	const lab = labPaths(paths);
	const warnings: string[] = [];

	onProgress('Downloading packages', 0);
	const packages = await fetchGuestPackages(lab.cache, stage(onProgress, 0, 0.3));
	onProgress('Building initrd and guest image', 0.3);
	const guest = await buildGuestImage(lab.cache, packages, stage(onProgress, 0.3, 0.5));
	const mtools = await resolveMtools(packages.mtools.root);

	const names = SAMPLE_VMS.map((vm) => vm.name);
	const skip = await protectedVms(lab, names);
	for (const [name, reason] of skip) warnings.push(`${name} left alone: ${reason}`);

	// Existing restore points are kept without --force, even if the guest image changed since
	// they were written: say so, rather than silently serving an outdated guest.
	const stampFile = path.join(lab.root, 'sample-build.json');
	const stamp = await fs.readFile(stampFile, 'utf8').then((text) => (JSON.parse(text) as { guestHash?: string }).guestHash, () => undefined);
	const outdated = stamp !== undefined && stamp !== guest.hash && !options.force;
	if (outdated) warnings.push('The sample destination was built from an older guest image: run `rundirect lab init --force` to rebuild it');

	onProgress('Writing restore points', 0.5);
	const destination = await writeSampleDestination(lab.destination, guest, mtools, {
		force: options.force,
		skip: new Set(skip.keys()),
		onProgress: stage(onProgress, 0.5, 0.85),
	});
	onProgress('Creating lab VMs', 0.85);
	await createLabVms(lab, { force: options.force, skip: new Set(skip.keys()), onProgress: stage(onProgress, 0.85, options.withDebian ? 0.9 : 1) });
	let restorePoints = destination.points;
	if (options.withDebian) {
		onProgress('Building the Debian guest (debootstrap: a few minutes, once)', 0.9);
		const debian = await buildDebianImage(lab.cache, packages, stage(onProgress, 0.9, 0.97));
		const debianSkip = await protectedVms(lab, DEBIAN_SAMPLE_VMS.map((vm) => vm.name));
		for (const [name, reason] of debianSkip) warnings.push(`${name} left alone: ${reason}`);
		restorePoints += (await writeDebianPoints(lab.destination, debian, { force: options.force, skip: new Set(debianSkip.keys()), onProgress: stage(onProgress, 0.97, 1) })).points;
	}
	// Private like everything of the lab's data folder but the sample destination (a backup).
	if (!outdated && stamp !== guest.hash) await writeFileAtomic(stampFile, `${JSON.stringify({ guestHash: guest.hash }, null, 2)}\n`, privateAtomic());
	onProgress('Lab ready', 1);

	return {
		destination: path.resolve(lab.destination),
		guestImage: guest.image,
		vms: names,
		restorePoints,
		warnings,
	};
}
