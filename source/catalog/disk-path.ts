// A disk file named by a restore point, proven to lie inside the restore point's folder
// (symbolic links included): the one check every kind of restore point goes through.
import fs from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import path from 'node:path';

function errnoCode(error: unknown): string | undefined {
	return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Proves `file` (relative, from the manifest) resolves inside `dir`, symlinks included; `what` names it in messages. */
export async function resolveDiskPath(dir: string, file: string, what = 'disk file'): Promise<{ path?: string; message?: string }> {
	if (path.isAbsolute(file) || path.win32.isAbsolute(file)) return { message: 'must be a path relative to the restore point folder, not an absolute path' };
	if (file.split(/[\\/]/).includes('..')) return { message: `must not contain ".." (${what}s must stay inside the restore point folder)` };
	// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
	if (/[\u0000-\u001f]/.test(file)) return { message: 'must not contain control characters' };
	const candidate = path.resolve(dir, file);
	if (!/[\\/]/.test(file)) {
		// Fast path (thousands of points): a plain file directly in the folder is inside it by
		// construction; only a symbolic link needs resolving.
		let link = null;
		try {
			link = lstatSync(candidate);
		} catch {
			// falls through to the full check, which names the problem
		}
		if (link && !link.isSymbolicLink()) return { path: candidate };
	}
	let real: string;
	try {
		real = await fs.realpath(candidate);
	} catch (error) {
		if (errnoCode(error) === 'ENOENT') return { message: `${what} ${candidate} does not exist` };
		return { message: `${what} ${candidate} cannot be read: ${(error as Error).message}` };
	}
	const realDir = await fs.realpath(dir);
	if (!real.startsWith(realDir + path.sep)) return { message: `resolves to ${real}, outside the restore point folder (a symbolic link?)` };
	return { path: candidate };
}
