// Lab VM definitions: one JSON file per VM under <lab>/vms/, written atomically.
// The definition is the lab's equivalent of a Hyper-V VM configuration; whether the VM is
// running is not stored here but read from its pid file and QMP socket (see runtime.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { nicSchema } from '../../catalog/schema.ts';
import { readTextIfExists } from '../../core/files.ts';
import { mkdirPrivate, privateAtomic } from '../../core/private-files.ts';
import { LabError } from './errors.ts';
import { labHardwareSchema } from './hardware.ts';

export const labDiskSchema = z.strictObject({
	/** The image QEMU opens for the device (the overlay while running from backup). */
	path: z.string(),
	format: z.enum(['qcow2', 'vhdx', 'raw']),
});

export const labVmDefinitionSchema = z.strictObject({
	schemaVersion: z.literal(1),
	name: z.string(),
	id: z.uuid(),
	cpus: z.number().int().min(1),
	memoryMiB: z.number().int().min(32),
	disks: z.array(labDiskSchema),
	nics: z.array(nicSchema),
	/** The restore point's hardware (hardware.ts); absent in definitions written before it was kept: q35, BIOS, virtio-blk. */
	hardware: labHardwareSchema.optional(),
	/** Session id while the VM runs from a backup (set in step 4, cleared in step 7). */
	runningFromBackup: z.string().nullable(),
	/** Session id that set this VM aside in step 1 (the file is then named "<name>~<session>.json"). */
	setAsideBy: z.string().nullable(),
	createdAt: z.string(),
});

export type LabVmDefinition = z.infer<typeof labVmDefinitionSchema>;

export function definitionPath(vmsDir: string, fileStem: string): string {
	return path.join(vmsDir, `${fileStem}.json`);
}

export async function readDefinition(file: string): Promise<LabVmDefinition | null> {
	const text = await readTextIfExists(file);
	if (text === null) return null;
	const parsed = labVmDefinitionSchema.safeParse(JSON.parse(text));
	if (!parsed.success) throw new LabError('DEFINITION_INVALID', `${file}: not a valid lab VM definition: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`);
	return parsed.data;
}

export async function writeDefinition(file: string, definition: LabVmDefinition): Promise<void> {
	// A definition names the VM's disks: private, like them.
	await mkdirPrivate(path.dirname(file));
	await writeFileAtomic(file, `${JSON.stringify(labVmDefinitionSchema.parse(definition), null, 2)}\n`, privateAtomic());
}

export async function listDefinitions(vmsDir: string): Promise<Array<{ file: string; definition: LabVmDefinition }>> {
	let names: string[];
	try {
		names = await fs.readdir(vmsDir);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
		throw error;
	}
	const result: Array<{ file: string; definition: LabVmDefinition }> = [];
	for (const name of names.filter((entry) => entry.endsWith('.json')).sort()) {
		const file = path.join(vmsDir, name);
		const definition = await readDefinition(file);
		if (definition) result.push({ file, definition });
	}
	return result;
}
