// Reading the small state files (journal entries, locks, pid files, definitions) where
// "absent" is an answer, not an error.
import fs from 'node:fs/promises';
import path from 'node:path';

/** The file's text, or null when there is no such file. Any other failure is thrown. */
export async function readTextIfExists(file: string): Promise<string | null> {
	try {
		return await fs.readFile(file, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
}

/** True when the path exists (whatever it is); any failure to see it counts as absent. */
export async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}

/** Where `command` is on PATH (an executable file), or null. */
export async function findOnPath(command: string): Promise<string | null> {
	for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
		if (!dir) continue;
		const candidate = path.join(dir, command);
		try {
			await fs.access(candidate, fs.constants.X_OK);
			return candidate;
		} catch {
			// not in this directory
		}
	}
	return null;
}
