// The restore-point.json schema. Everything read from a backup destination is untrusted:
// it is validated here before anything else happens.
import { z } from 'zod';

/**
 * VM names travel into file names, QEMU arguments and PowerShell data: keep them plain. Spaces
 * are allowed inside (Hyper-V names often have them; every path is quoted or passed as data, and
 * lock files hash the name), never at either end.
 */
export const vmNameSchema = z
	.string()
	.min(1, 'must not be empty')
	.max(64, 'must be at most 64 characters')
	.regex(/^[A-Za-z0-9](?:[A-Za-z0-9._ -]*[A-Za-z0-9._-])?$/, 'may contain only ASCII letters (A-Z, a-z), digits, spaces, ".", "_" and "-", and must start with a letter or digit and not end with a space');

export const restorePointIdSchema = z
	.string()
	.min(1)
	.max(64)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'may contain only ASCII letters (A-Z, a-z), digits, ".", "_" and "-", and must start with a letter or digit');

export const diskFormatSchema = z.enum(['qcow2', 'vhdx', 'raw']);
export type DiskFormat = z.infer<typeof diskFormatSchema>;

const macSchema = z.string().regex(/^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$/, 'must be a MAC address such as 00:15:5D:01:02:03');

export const nicSchema = z.strictObject({
	/** Null: the adapter is connected to no switch (as it was on the backed-up VM). */
	switch: z.string().min(1).max(128).nullable(),
	mac: macSchema.nullable().default(null),
	vlan: z.number().int().min(1).max(4094).nullable().default(null),
});

export const diskSchema = z.strictObject({
	controller: z.enum(['scsi', 'ide', 'virtio']),
	controllerNumber: z.number().int().min(0).max(3),
	location: z.number().int().min(0).max(63),
	/** Relative to the restore point's folder; must stay inside it. */
	file: z.string().min(1).max(255),
	format: diskFormatSchema,
	virtualSize: z.number().int().positive().max(64 * 2 ** 40),
});

export const vmSchema = z.strictObject({
	name: vmNameSchema,
	id: z.uuid(),
	generation: z.union([z.literal(1), z.literal(2)]),
	firmware: z.enum(['bios', 'uefi']),
	secureBoot: z.boolean().default(false),
	secureBootTemplate: z.string().max(128).nullable().default(null),
	cpus: z.number().int().min(1).max(240),
	memoryMiB: z.number().int().min(32).max(12 * 1024 * 1024),
	nics: z.array(nicSchema).max(64),
});

export const restorePointSchema = z.strictObject({
	schemaVersion: z.literal(1),
	id: restorePointIdSchema,
	takenAt: z.iso.datetime({ offset: true }),
	vm: vmSchema,
	disks: z.array(diskSchema).min(1, 'a restore point needs at least one disk').max(64),
	/**
	 * The VM's own configuration as its host exported it (Hyper-V: the .vmcx, with the .vmgs
	 * beside it), relative to the folder: a restore to the VM's own name imports it, so the VM
	 * keeps its identity (Id, adapters, firmware and guest state). Absent: the VM is made anew.
	 */
	config: z.strictObject({ file: z.string().min(1).max(255) }).optional(),
});

export type RestorePointManifest = z.infer<typeof restorePointSchema>;
export type DiskManifest = z.infer<typeof diskSchema>;
export type NicManifest = z.infer<typeof nicSchema>;
