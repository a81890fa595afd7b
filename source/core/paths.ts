// Where rundirect keeps its files: the XDG base directories on Linux, %ProgramData% on
// Windows (so every administrator's console sees the same sessions). Tests and scripts
// isolate themselves by setting the variables; flags override them.
import os from 'node:os';
import path from 'node:path';

export interface Paths {
	/** Journal (sessions/) and locks (locks/). */
	readonly state: string;
	/** The lab: production storage, VM definitions, work area, sample destination. */
	readonly data: string;
	/** Downloaded packages and built images. */
	readonly cache: string;
}

export interface PathOverrides {
	state?: string;
	data?: string;
	cache?: string;
}

function xdg(variable: string, fallback: string): string {
	const value = process.env[variable];
	// The spec says relative values are invalid and must be ignored.
	return value && path.isAbsolute(value) ? value : path.join(os.homedir(), fallback);
}

export function resolvePaths(overrides: PathOverrides = {}): Paths {
	if (process.platform === 'win32') {
		const root = path.join(process.env.ProgramData ?? 'C:\\ProgramData', 'rundirect');
		return {
			state: overrides.state ?? path.join(root, 'state'),
			data: overrides.data ?? path.join(root, 'data'),
			cache: overrides.cache ?? path.join(root, 'cache'),
		};
	}
	return {
		state: overrides.state ?? path.join(xdg('XDG_STATE_HOME', '.local/state'), 'rundirect'),
		data: overrides.data ?? path.join(xdg('XDG_DATA_HOME', '.local/share'), 'rundirect'),
		cache: overrides.cache ?? path.join(xdg('XDG_CACHE_HOME', '.cache'), 'rundirect'),
	};
}

/** The lab's folders, all under the data directory. */
export interface LabPaths {
	readonly root: string;
	/** Production storage: one folder per VM holding its disks. */
	readonly production: string;
	/** VM definitions: <name>.json */
	readonly vms: string;
	/** Snapshot layers (overlays), one folder per session. */
	readonly work: string;
	/** QMP sockets, pid files and serial logs of running VMs. */
	readonly run: string;
	/** The sample backup destination that `lab init` creates. */
	readonly destination: string;
	/** Where the lab guest image and the downloaded Debian packages are cached. */
	readonly cache: string;
}

export function labPaths(paths: Paths): LabPaths {
	const root = path.join(paths.data, 'lab');
	return {
		root,
		production: path.join(root, 'production'),
		vms: path.join(root, 'vms'),
		work: path.join(root, 'work'),
		run: path.join(root, 'run'),
		destination: path.join(root, 'destination'),
		cache: path.join(paths.cache, 'lab'),
	};
}
