// What another local user can see: the probe runs as uid 65534 (nobody) in a child process,
// because these tests run as root and root reads whatever the modes say. Plus the walk that
// lists every file and folder of guest data with its mode, as the owner sees it.
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export const NOBODY = 65534;

export interface Entry {
	path: string;
	kind: 'file' | 'dir';
	mode: number;
}

/** Every regular file and folder under `root` (root included), symlinks and sockets left out. */
export async function walk(root: string, skip: (entry: string) => boolean = () => false): Promise<Entry[]> {
	const found: Entry[] = [];
	const visit = async (entry: string): Promise<void> => {
		if (skip(entry)) return;
		const stat = await fs.lstat(entry).catch(() => null);
		if (!stat) return;
		if (stat.isFile()) found.push({ path: entry, kind: 'file', mode: stat.mode & 0o7777 });
		else if (stat.isDirectory()) {
			found.push({ path: entry, kind: 'dir', mode: stat.mode & 0o7777 });
			const names: Dirent[] = await fs.readdir(entry, { withFileTypes: true }).catch(() => []);
			for (const name of names) await visit(path.join(entry, name.name));
		}
	};
	await visit(root);
	return found;
}

/** The entries uid 65534 could read (a file) or list (a folder); an empty list is what privacy means. */
export async function readableByNobody(entries: readonly Entry[]): Promise<string[]> {
	if (entries.length === 0) return [];
	const script = 'for e in "$@"; do p="${e#?:}"; case "$e" in d:*) ls -- "$p" >/dev/null 2>&1 && echo "listed $p";; *) head -c 1 -- "$p" >/dev/null 2>&1 && echo "read $p";; esac; done; exit 0';
	const args = entries.map((entry) => `${entry.kind === 'dir' ? 'd' : 'f'}:${entry.path}`);
	const result = await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'sh', '-c', script, 'probe', ...args], { reject: false });
	if (result.exitCode !== 0) throw new Error(`the probe as uid ${NOBODY} failed: ${result.stderr}`);
	return String(result.stdout).split('\n').filter((line) => line.length > 0);
}

/** Entries not private to the owner: files other than 0600, folders other than 0700. */
export function notPrivate(entries: readonly Entry[]): string[] {
	return entries.filter((entry) => entry.mode !== (entry.kind === 'dir' ? 0o700 : 0o600)).map((entry) => `${entry.path} ${entry.mode.toString(8)}`);
}
