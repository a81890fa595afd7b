// An installation made by an earlier version left guest data to the umask: journals 0644,
// production images, serial logs and drill evidence readable by every local user. The first
// start of this version narrows the state folder and the host's own storage to the user
// running rundirect (never a backup destination), says so once, and remembers it in a marker
// of the state folder, so the notice is given once and the walk is not repeated. Where nothing
// had to change, nothing is written (a refused command changes nothing): the next start walks
// again and, finding everything private, says nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { mkdirPrivate, privateAtomic, tightenTree } from '../core/private-files.ts';
import { tightensStorage } from '../hosts/capabilities.ts';
import type { Host } from '../hosts/host.ts';
import type { Journal } from './journal.ts';
import { errorMessage } from '../core/errors.ts';

const MARKER = 'private.json';

interface Marker {
	schemaVersion: 1;
	/** "state", and "host:<id>" for each host whose storage has been narrowed. */
	done: string[];
	at: string;
}

export function markerFile(stateDir: string): string {
	return path.join(stateDir, MARKER);
}

async function readMarker(stateDir: string): Promise<Marker | null> {
	try {
		const parsed = JSON.parse(await fs.readFile(markerFile(stateDir), 'utf8')) as Partial<Marker>;
		return Array.isArray(parsed.done) ? (parsed as Marker) : null;
	} catch {
		return null;
	}
}

/**
 * Narrows what is not yet narrowed; returns the notice to give (null when nothing had to
 * change). Windows keeps these files under %ProgramData% with its own ACLs: not here.
 */
export async function keepInstallationPrivate(stateDir: string, host: Host, spare: readonly string[], sessionFolders: readonly string[] = []): Promise<string | null> {
	if (process.platform === 'win32') return null;
	const marker = await readMarker(stateDir);
	const done = new Set(marker?.done ?? []);
	const hostKey = `host:${host.id}`;
	const tightensHost = tightensStorage(host) && !done.has(hostKey);
	if (done.has('state') && !tightensHost) return null;
	const places: string[] = [];
	let changed = 0;
	if (!done.has('state')) {
		const state = await tightenTree(stateDir, spare);
		if (state.changed.length > 0) places.push(stateDir);
		changed += state.changed.length;
		done.add('state');
	}
	if (tightensHost) {
		const storage = await host.tightenStorage(spare, sessionFolders);
		if (storage.changed.length > 0) places.push(host.storagePlace);
		changed += storage.changed.length;
		done.add(hostKey);
	}
	if (changed === 0) return null;
	const record: Marker = { schemaVersion: 1, done: [...done].sort(), at: new Date().toISOString() };
	await mkdirPrivate(stateDir);
	await writeFileAtomic(markerFile(stateDir), `${JSON.stringify(record, null, 2)}\n`, privateAtomic());
	return (
		`made existing files and folders private to this user (${changed} changed: files 0600, folders 0700) under ${places.join(' and ')}: ` +
		'an earlier version of rundirect had left guest data (disks, serial logs, journals, drill evidence) readable by other local users; backups were not touched'
	);
}

/**
 * What the narrowing must never touch: the destination, and every restore point a session ran
 * from (an earlier command may have named another destination, even one inside the data folder).
 */
export async function backupPlaces(journal: Journal, destination: string): Promise<string[]> {
	const { sessions } = await journal.list();
	// A journal entry is JSON from disk: one without a plan names no backup (and must not stop the rest).
	const points = sessions.flatMap((session) => (Array.isArray(session.plan?.disks) ? session.plan.disks.map((disk) => disk.backup) : [])).filter((file) => typeof file === 'string' && path.isAbsolute(file));
	return [destination, ...new Set(points.map((file) => path.dirname(file)))];
}

/** The production folders of this host's sessions, as their journals name them. */
export async function sessionFoldersOf(journal: Journal, hostId: string): Promise<string[]> {
	const { sessions } = await journal.list();
	const folders = sessions.filter((session) => session.host === hostId).map((session) => session.plan?.productionDir);
	return [...new Set(folders.filter((folder): folder is string => typeof folder === 'string' && path.isAbsolute(folder)))];
}

/** The same, never throwing: a failure is a notice too, and it is tried again on the next start. */
export function privacyNotice(stateDir: string, host: Host, journal: Journal, destination: string): Promise<string | null> {
	return Promise.all([backupPlaces(journal, destination), sessionFoldersOf(journal, host.id)])
		.then(([spare, folders]) => keepInstallationPrivate(stateDir, host, spare, folders))
		.catch((error: unknown) => `could not make the files of earlier versions private: ${errorMessage(error)}`);
}
