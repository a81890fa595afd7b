// Step 1 of the lab host: the VM being replaced is turned off and set aside (its production
// folder moved under <production>/.set-aside/<session>/, its definition renamed
// "<name>~<session>.json"), kept until the session is finalized (purge) or stopped (restore).
// A record of every move is written BEFORE anything moves, so an interrupted set-aside can be
// completed or undone by running it again.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { SetAsideRecord } from '../host.ts';
import type { LabPaths } from '../../core/paths.ts';
import { definitionPath, type LabVmDefinition, listDefinitions, readDefinition, writeDefinition } from './definition.ts';
import { exists, readTextIfExists } from '../../core/files.ts';
import { mkdirPrivate, privateAtomic } from '../../core/private-files.ts';
import { LabError } from './errors.ts';

export interface Move {
	from: string;
	to: string;
}

export interface SetAsideDetails {
	sessionId: string;
	definitionFrom: string;
	definitionTo: string;
	recordFile: string;
	moves: Move[];
	originalDisks: LabVmDefinition['disks'];
	wasRunning: boolean;
}

export function setAsideRoot(lab: LabPaths, sessionId: string): string {
	return path.join(lab.production, '.set-aside', sessionId);
}

export function recordFile(lab: LabPaths, sessionId: string, name: string): string {
	return path.join(setAsideRoot(lab, sessionId), `${name}.record.json`);
}

export function asideName(name: string, sessionId: string): string {
	return `${name}~${sessionId}`;
}

function isInside(child: string, parent: string): boolean {
	const relative = path.relative(parent, child);
	return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * The folder holding all of a VM's disks when it is the VM's own (no other VM uses it and it
 * is not one of the lab's own folders), else null: then only the disk files are moved.
 */
export async function dedicatedFolder(lab: LabPaths, definition: LabVmDefinition, definitionFile: string): Promise<string | null> {
	const folders = [...new Set(definition.disks.map((disk) => path.dirname(disk.path)))];
	const folder = folders[0];
	if (folders.length !== 1 || folder === undefined) return null;
	for (const labFolder of [lab.root, lab.production, lab.vms, lab.work, lab.run, lab.destination]) {
		if (isInside(labFolder, folder)) return null;
	}
	if (isInside(folder, path.join(lab.production, '.set-aside'))) return null;
	for (const other of await listDefinitions(lab.vms)) {
		if (other.file === definitionFile) continue;
		if (other.definition.disks.some((disk) => isInside(disk.path, folder))) return null;
	}
	return folder;
}

export function remapPath(file: string, moves: Move[]): string {
	for (const move of moves) {
		if (file === move.from) return move.to;
		if (isInside(file, move.from)) return path.join(move.to, path.relative(move.from, file));
	}
	return file;
}

/** rename, or copy + delete across filesystems. Idempotent: a finished move is skipped. */
export async function move(from: string, to: string): Promise<void> {
	const fromExists = await exists(from);
	const toExists = await exists(to);
	if (!fromExists) return;
	if (toExists) throw new LabError('MOVE_CONFLICT', `Cannot move ${from} to ${to}: both exist; remove the stale one after checking which is current`);
	await mkdirPrivate(path.dirname(to));
	try {
		await fs.rename(from, to);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
		await fs.cp(from, to, { recursive: true, preserveTimestamps: true, errorOnExist: true });
		await fs.rm(from, { recursive: true, force: true });
	}
}

export async function readRecord(file: string): Promise<SetAsideRecord | null> {
	const text = await readTextIfExists(file);
	return text === null ? null : (JSON.parse(text) as SetAsideRecord);
}

export function detailsOf(record: SetAsideRecord): SetAsideDetails {
	const details = record.details as unknown as SetAsideDetails;
	if (!details || !Array.isArray(details.moves) || typeof details.definitionTo !== 'string') throw new LabError('SET_ASIDE_RECORD_INVALID', `Set-aside record of ${record.name} is not a lab record`);
	return details;
}

/** Writes the record of what step 1 will do (before doing any of it). */
export async function prepareSetAside(lab: LabPaths, sessionId: string, name: string, wasRunning: boolean): Promise<SetAsideRecord | null> {
	const file = recordFile(lab, sessionId, name);
	const existing = await readRecord(file);
	if (existing) return existing;
	const definitionFrom = definitionPath(lab.vms, name);
	const definition = await readDefinition(definitionFrom);
	if (!definition) return null;
	const root = setAsideRoot(lab, sessionId);
	const folder = await dedicatedFolder(lab, definition, definitionFrom);
	const moves: Move[] = folder
		? [{ from: folder, to: path.join(root, name) }]
		: definition.disks.map((disk, index) => ({ from: disk.path, to: path.join(root, name, `${index}-${path.basename(disk.path)}`) }));
	const details: SetAsideDetails = {
		sessionId,
		definitionFrom,
		definitionTo: definitionPath(lab.vms, asideName(name, sessionId)),
		recordFile: file,
		moves,
		originalDisks: definition.disks,
		wasRunning,
	};
	const record: SetAsideRecord = { name, asideName: asideName(name, sessionId), details: details as unknown as Record<string, unknown> };
	await mkdirPrivate(root);
	await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, privateAtomic());
	return record;
}

/** Carries out (or completes) the moves and the definition rename. The VM must be off. */
export async function completeSetAside(record: SetAsideRecord): Promise<void> {
	const details = detailsOf(record);
	for (const { from, to } of details.moves) await move(from, to);
	const original = await readDefinition(details.definitionFrom);
	if (original && original.setAsideBy === null) {
		await writeDefinition(details.definitionTo, {
			...original,
			setAsideBy: details.sessionId,
			disks: original.disks.map((disk) => ({ ...disk, path: remapPath(disk.path, details.moves) })),
		});
		await fs.rm(details.definitionFrom, { force: true });
	}
}

/** Brings the VM back under its name, as it was. Returns its definition. */
export async function undoSetAside(lab: LabPaths, record: SetAsideRecord): Promise<LabVmDefinition | null> {
	const details = detailsOf(record);
	const current = await readDefinition(details.definitionFrom);
	if (current && current.setAsideBy === null && current.runningFromBackup !== null) {
		throw new LabError('SET_ASIDE_BLOCKED', `Cannot bring ${record.name} back: VM ${record.name} of session ${current.runningFromBackup} still exists; discard it first`);
	}
	for (const { from, to } of [...details.moves].reverse()) await move(to, from);
	const aside = await readDefinition(details.definitionTo);
	let restored = current;
	if (aside) {
		restored = { ...aside, setAsideBy: null, disks: details.originalDisks };
		await writeDefinition(details.definitionFrom, restored);
		await fs.rm(details.definitionTo, { force: true });
	}
	await fs.rm(setAsideRoot(lab, details.sessionId), { recursive: true, force: true });
	return restored;
}

/** Finalize: the set-aside VM goes for good. */
export async function purge(lab: LabPaths, record: SetAsideRecord): Promise<void> {
	const details = detailsOf(record);
	for (const { to } of details.moves) await fs.rm(to, { recursive: true, force: true });
	await fs.rm(details.definitionTo, { force: true });
	await fs.rm(setAsideRoot(lab, details.sessionId), { recursive: true, force: true });
}
