// Writes a restore-point.json for tests that build their own backup destination: valid by
// default (a one-CPU BIOS VM, no NICs), with only what a test is about given explicitly.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DiskManifest, RestorePointManifest } from '../../source/catalog/schema.ts';

export interface ManifestSpec {
	/** Defaults to the VM folder's name (the parent of `dir`). */
	vm?: Partial<RestorePointManifest['vm']>;
	/** Defaults to the folder's name. */
	id?: string;
	takenAt?: string;
	disks: Array<Pick<DiskManifest, 'file' | 'format' | 'virtualSize'> & Partial<DiskManifest>>;
	config?: RestorePointManifest['config'];
}

export function manifestFor(dir: string, spec: ManifestSpec): RestorePointManifest {
	return {
		schemaVersion: 1,
		id: spec.id ?? path.basename(dir),
		takenAt: spec.takenAt ?? '2026-11-24T01:00:00Z',
		vm: {
			name: path.basename(path.dirname(dir)),
			id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
			generation: 1,
			firmware: 'bios',
			secureBoot: false,
			secureBootTemplate: null,
			cpus: 1,
			memoryMiB: 128,
			nics: [],
			...spec.vm,
		},
		disks: spec.disks.map((disk, index) => ({ controller: 'virtio', controllerNumber: 0, location: index, ...disk })),
		...(spec.config ? { config: spec.config } : {}),
	};
}

/** Creates `dir` and writes its restore-point.json. */
export async function writeManifest(dir: string, spec: ManifestSpec): Promise<void> {
	await fs.mkdir(dir, { recursive: true });
	await fs.writeFile(path.join(dir, 'restore-point.json'), JSON.stringify(manifestFor(dir, spec)));
}
