// Room on a host's folders (lab, libvirt), asked before they exist: statfs and stat go to the
// closest existing ancestor, which is where the folder will be created.
import fs from 'node:fs/promises';
import path from 'node:path';
import { exists } from './files.ts';

export async function existingAncestor(folder: string): Promise<string> {
	let current = folder;
	while (!(await exists(current))) {
		const parent = path.dirname(current);
		if (parent === current) break;
		current = parent;
	}
	return current;
}

export async function freeBytes(folder: string): Promise<number> {
	const stats = await fs.statfs(await existingAncestor(folder));
	return stats.bavail * stats.bsize;
}

export async function deviceOf(folder: string): Promise<number> {
	return (await fs.stat(await existingAncestor(folder))).dev;
}
