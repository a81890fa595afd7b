// Locating the external programs the lab build runs. The mtools come from the system when
// installed, else from the unpacked Debian package; syslinux always from the package
// (its boot code must match the ldlinux.sys it installs, and the system may not have it).
import path from 'node:path';
import { findOnPath } from '../core/files.ts';

export interface Mtools {
	/** Folder holding mformat, mcopy, mtype …; prepended to PATH for syslinux, which runs mcopy itself. */
	readonly dir: string;
	readonly mformat: string;
	readonly mcopy: string;
	readonly mtype: string;
	/** Environment to run them with. */
	readonly env: NodeJS.ProcessEnv;
}

function mtoolsIn(dir: string): Mtools {
	return {
		dir,
		mformat: path.join(dir, 'mformat'),
		mcopy: path.join(dir, 'mcopy'),
		mtype: path.join(dir, 'mtype'),
		// Superfloppy images have no meaningful CHS geometry: don't let mtools refuse them.
		env: { MTOOLS_SKIP_CHECK: '1', PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}` },
	};
}

let remembered: Mtools | null = null;

/** System mtools if `mformat` is on PATH, else those unpacked from the Debian package. */
export async function resolveMtools(unpackedMtoolsRoot?: string): Promise<Mtools> {
	const system = await findOnPath('mformat');
	if (system && (await findOnPath('mcopy')) && (await findOnPath('mtype'))) return (remembered = mtoolsIn(path.dirname(system)));
	if (unpackedMtoolsRoot) return (remembered = mtoolsIn(path.join(unpackedMtoolsRoot, 'usr', 'bin')));
	if (remembered) return remembered;
	throw new Error('mtools are not installed and have not been downloaded yet: run `rundirect lab init` (or install mtools)');
}
