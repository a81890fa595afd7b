// Which sample VMs `lab init` must not touch: a VM a session is using (running from its
// backup, set aside in step 1, or running at all) keeps its disks, definition and backups,
// even with --force. Rebuilding them would destroy a restore in progress.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { LabPaths } from '../core/paths.ts';
import { definitionPath, readDefinition } from '../hosts/lab/definition.ts';
import { runningPid, runtimeFiles } from '../hosts/lab/runtime.ts';
import { imageInfo } from '../qemu/qemu-img.ts';

async function readdirOrEmpty(dir: string): Promise<string[]> {
	try {
		return await fs.readdir(dir);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
		throw error;
	}
}

async function overlayFiles(dir: string): Promise<string[]> {
	const found: string[] = [];
	for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) found.push(...(await overlayFiles(full)));
		else if (entry.name.endsWith('.qcow2')) found.push(full);
	}
	return found;
}

/** Sample VM name → why it is left alone. */
export async function protectedVms(lab: LabPaths, names: readonly string[]): Promise<Map<string, string>> {
	const reasons = new Map<string, string>();
	const vmFiles = await readdirOrEmpty(lab.vms);
	// Snapshot layers of sessions: their backing file is a backup, which must not be replaced.
	const backings: string[] = [];
	for (const overlay of await overlayFiles(lab.work)) {
		const info = await imageInfo(overlay).catch(() => null);
		if (info?.backing) backings.push(path.resolve(path.dirname(overlay), info.backing));
	}
	for (const name of names) {
		const setAside = vmFiles.find((file) => file.startsWith(`${name}~`) && file.endsWith('.json'));
		if (setAside) {
			reasons.set(name, `it is set aside by a session (${setAside})`);
			continue;
		}
		try {
			const definition = await readDefinition(definitionPath(lab.vms, name));
			if (definition?.runningFromBackup) {
				reasons.set(name, `it is running from backup (session ${definition.runningFromBackup})`);
				continue;
			}
			if (definition?.setAsideBy) {
				reasons.set(name, `it is set aside by session ${definition.setAsideBy}`);
				continue;
			}
		} catch (error) {
			reasons.set(name, `its definition is unreadable (${(error as Error).message})`);
			continue;
		}
		// Running at all (from production): rebuilding would pull its disks from under it.
		const pid = await runningPid(runtimeFiles(lab.run, name)).catch(() => null);
		if (pid !== null) {
			reasons.set(name, `it is running (pid ${pid})`);
			continue;
		}
		const backupDir = path.join(lab.destination, name) + path.sep;
		if (backings.some((backing) => backing.startsWith(backupDir))) reasons.set(name, 'a session snapshot layer is backed by its backup');
	}
	return reasons;
}
