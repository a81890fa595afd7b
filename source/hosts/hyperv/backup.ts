// `rundirect backup <vm>` on a Hyper-V host: a checkpoint freezes the VM's disks, the detached
// copy workers copy each frozen VHDX into a staging folder of the destination, the checkpoint is
// removed, and restore-point.json (validated) is written before the folder gets its final name —
// so the catalog never sees half a restore point.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import writeFileAtomic from 'write-file-atomic';
import { MANIFEST_NAME } from '../../catalog/catalog.ts';
import { restorePointSchema, type RestorePointManifest } from '../../catalog/schema.ts';
import type { BackupResult } from '../capabilities.ts';
import type { ProgressCallback } from '../host.ts';
import { asArray, asDate, asNumber, asString } from './envelope.ts';
import { HypervError } from './errors.ts';
import { readCopy } from './results.ts';
import type { PowerShellRunner } from './runner.ts';
import { SCRIPTS } from './scripts.ts';

export interface BackupOptions {
	runner: PowerShellRunner;
	vmName: string;
	/** The destination root as the host sees it (same path as the console's: local or UNC). */
	destination: string;
	/** Defaults to a timestamp id. */
	pointId?: string;
	onProgress?: ProgressCallback;
	signal?: AbortSignal;
	pollIntervalMs?: number;
	now?: Date;
}


function record(value: unknown): Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The restore point's folder for the VM's exported configuration (its .vmcx and .vmgs). */
export const CONFIG_FOLDER = 'config';

/** 20260101-010203: sorts by time and satisfies restorePointIdSchema. */
export function pointIdFor(date: Date): string {
	return date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The restore point's manifest from what backup-begin reported, validated like any other. */
export function manifestFrom(info: unknown, pointId: string): RestorePointManifest {
	const r = record(info);
	const configFile = asString(r.configFile);
	const disks = asArray(r.disks).map((entry, index) => {
		const disk = record(entry);
		const format = asString(disk.format)?.toLowerCase();
		if (format !== 'vhdx') throw new HypervError('NOT_VHDX', `disk ${index} of ${asString(r.name) ?? '?'} is ${format ?? 'unknown'}: rundirect backup copies VHDX disks only`);
		return {
			controller: asString(disk.controller)?.toLowerCase() === 'ide' ? ('ide' as const) : ('scsi' as const),
			controllerNumber: asNumber(disk.controllerNumber) ?? 0,
			location: asNumber(disk.location) ?? index,
			file: `disk${index}.vhdx`,
			format: 'vhdx' as const,
			virtualSize: asNumber(disk.size) ?? 0,
		};
	});
	const generation = asNumber(r.generation) === 1 ? 1 : 2;
	const template = asString(r.secureBootTemplate);
	const parsed = restorePointSchema.safeParse({
		schemaVersion: 1,
		id: pointId,
		// The script sends an ISO string; a DateTime as 5.1 serializes it ("\/Date(ms)\/") is read too.
		takenAt: asDate(r.takenAt)?.toISOString() ?? new Date().toISOString(),
		vm: {
			name: asString(r.name),
			id: asString(r.id)?.toLowerCase(),
			generation,
			firmware: generation === 2 ? 'uefi' : 'bios',
			secureBoot: r.secureBoot === true,
			secureBootTemplate: template ? template : null,
			cpus: asNumber(r.cpus),
			memoryMiB: Math.round((asNumber(r.memoryBytes) ?? 0) / 2 ** 20),
			nics: asArray(r.nics).map((entry) => {
				const nic = record(entry);
				const mac = asString(nic.mac);
				// An adapter connected to no switch reports an empty SwitchName.
				return { switch: asString(nic.switch) || null, mac: mac ? mac.replace(/(..)(?!$)/g, '$1:') : null, vlan: asNumber(nic.vlan) };
			}),
		},
		disks,
		...(configFile ? { config: { file: `${CONFIG_FOLDER}/Virtual Machines/${configFile}` } } : {}),
	});
	if (!parsed.success) {
		throw new HypervError('INVALID_RESTORE_POINT', `the settings read from the VM do not make a valid restore point: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
	}
	return parsed.data;
}

export async function backupVm(options: BackupOptions): Promise<BackupResult> {
	const pointId = options.pointId ?? pointIdFor(options.now ?? new Date());
	const checkpointName = `rundirect-backup-${pointId}`;
	const vmDir = path.join(options.destination, options.vmName);
	const finalDir = path.join(vmDir, pointId);
	// A dot folder: the catalog skips it, so a backup in progress is never listed.
	const staging = path.join(vmDir, `.${pointId}.incomplete`);
	await fs.mkdir(staging, { recursive: true });
	const info = await options.runner.run(SCRIPTS.backupBegin, { vmName: options.vmName, checkpointName, configDir: path.join(staging, CONFIG_FOLDER) });
	try {
		const manifest = manifestFrom(info, pointId);
		const sources = asArray(record(info).disks).map((entry) => asString(record(entry).path) ?? '');
		const jobs = sources.map((source, index) => ({
			source,
			target: path.join(staging, `disk${index}.vhdx`),
			partial: path.join(staging, `disk${index}.vhdx.partial`),
			stateFile: path.join(staging, `disk${index}.copy.json`),
		}));
		let reports = readCopy(await options.runner.run(SCRIPTS.copy, { start: true, jobs }));
		while (!reports.every((job) => job.status === 'done')) {
			const failed = reports.find((job) => job.status === 'failed' || job.status === 'missing');
			if (failed) throw new HypervError('COPY_FAILED', `copying ${failed.target} failed: ${failed.error ?? 'the copy stopped'}; run backup again`);
			options.onProgress?.({ done: reports.reduce((sum, job) => sum + job.done, 0), total: reports.reduce((sum, job) => sum + job.total, 0), detail: `${jobs.length} disk(s)` });
			options.signal?.throwIfAborted();
			await sleep(options.pollIntervalMs ?? 2000, undefined, options.signal ? { signal: options.signal } : {});
			reports = readCopy(await options.runner.run(SCRIPTS.copy, { start: false, jobs }));
		}
		for (const job of jobs) await fs.rm(job.stateFile, { force: true });
		await writeFileAtomic(path.join(staging, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
		await fs.rename(staging, finalDir);
		return { pointId, dir: finalDir, manifest };
	} finally {
		// The checkpoint goes whatever happened: a left-over checkpoint would grow forever.
		await options.runner.run(SCRIPTS.backupEnd, { vmName: options.vmName, checkpointName }).catch(() => undefined);
	}
}
