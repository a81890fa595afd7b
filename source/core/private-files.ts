// Guest data stays private to the user running rundirect: a VM's disks, its serial log, a
// drill's evidence and the journals that name them are files 0600 in folders 0700. The mode is
// always SET (on create, then chmod), never left to the umask — and qemu-img and QEMU create
// their files with the umask, so their files are created here first or fixed right after.
// tightenTree narrows what earlier versions left readable; it never touches a spared path (a
// backup destination: rundirect may read a backup, it never changes its permissions).
import fs from 'node:fs/promises';
import path from 'node:path';

export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** mkdir -p where every folder it creates is 0700; an existing folder is left as it is. */
export async function mkdirPrivate(dir: string): Promise<void> {
	const first = await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
	if (first === undefined) return;
	// mkdir's mode is masked by the umask: set it on every folder this call created.
	for (let folder = path.resolve(dir); ; folder = path.dirname(folder)) {
		await fs.chmod(folder, PRIVATE_DIR);
		if (folder === path.resolve(first) || path.dirname(folder) === folder) break;
	}
}

/** Sets 0600 on a file another program created with the umask (qemu-img, QEMU). */
export async function makePrivate(file: string): Promise<void> {
	await fs.chmod(file, PRIVATE_FILE);
}

/** An empty file 0600 (truncated if it exists), for a program that then writes into it and keeps the mode. */
export async function createPrivateFile(file: string): Promise<void> {
	await fs.writeFile(file, '', { mode: PRIVATE_FILE });
	await makePrivate(file);
}

/** writeFile with the file 0600 whether it is new or not. */
export async function writePrivate(file: string, data: string | Uint8Array): Promise<void> {
	await fs.writeFile(file, data, { mode: PRIVATE_FILE });
	await makePrivate(file);
}

/** The options that make write-file-atomic's file 0600 (without them it copies the old file's mode). */
export function privateAtomic(options: { fsync?: boolean } = {}): { fsync?: boolean; mode: number } {
	return { ...options, mode: PRIVATE_FILE };
}

export interface TightenResult {
	/** Files and folders whose group or other bits were removed. */
	changed: string[];
}

function isInside(child: string, parent: string): boolean {
	const relative = path.relative(parent, child);
	return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * Removes the group and other bits of `root` and everything under it that this user owns:
 * regular files and folders only (symlinks are not followed, sockets are left alone), and
 * nothing inside a `spare`d path — nor a folder that holds one, so a backup destination inside
 * the tree stays reachable as it was. Missing paths are no error.
 */
export async function tightenTree(root: string, spare: readonly string[] = []): Promise<TightenResult> {
	const spared = spare.map((entry) => path.resolve(entry));
	const changed: string[] = [];
	const uid = process.getuid?.();
	const visit = async (entry: string): Promise<void> => {
		const resolved = path.resolve(entry);
		if (spared.some((kept) => isInside(resolved, kept))) return;
		const stat = await fs.lstat(resolved).catch(() => null);
		if (!stat || (!stat.isFile() && !stat.isDirectory())) return;
		const holdsSpared = spared.some((kept) => isInside(kept, resolved));
		if ((uid === undefined || stat.uid === uid) && (stat.mode & 0o077) !== 0 && !holdsSpared) {
			await fs.chmod(resolved, stat.mode & 0o7700);
			changed.push(resolved);
		}
		if (stat.isDirectory()) {
			const names = await fs.readdir(resolved).catch(() => [] as string[]);
			for (const name of names) await visit(path.join(resolved, name));
		}
	};
	await visit(root);
	return { changed };
}
