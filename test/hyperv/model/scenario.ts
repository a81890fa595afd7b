// A restore scenario on the Hyper-V model: a host with the VM a restore replaces (running on its
// own disk), a restore point of it in a destination, and the engine over the real driver.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DiskManifest, RestorePointManifest } from '../../../source/catalog/schema.ts';
import type { HypervHostOptions } from '../../../source/hosts/hyperv/driver.ts';
import { Engine } from '../../../source/restore/engine.ts';
import { writeManifest } from '../../support/restore-points.ts';
import { backupVm } from '../../../source/hosts/hyperv/backup.ts';
import { ChannelRunner, NodePowerShellChannel } from '../../../source/hosts/hyperv/runner.ts';
import { createModelHost, modelDriver, modelPrelude, modelVhdx, seedVm, type ModelHost } from './harness.ts';

export const BACKUP_ID = '0B0B0B0B-1111-4222-8333-444455556666';

export interface ScenarioOptions {
	/** The VM's name (default web01). */
	vm?: string;
	/** Where the destination lives under the scenario's folder (default "destination"). */
	destinationDir?: string;
	/** The restore point's NICs (default one on LAN, VLAN 12); their switches are created on the host. */
	nics?: Array<{ switch: string; mac: string | null; vlan: number | null }>;
	/** The replaced VM's notes. */
	notes?: string;
	host?: Record<string, unknown>;
	/** The restore point's VM settings over the default generation 2 UEFI VM. */
	settings?: Partial<RestorePointManifest['vm']>;
	/** The restore point's disks (default one on SCSI 0:0); disk i is backed by disk<i>.vhdx. */
	disks?: Array<Pick<DiskManifest, 'controller' | 'controllerNumber' | 'location'>>;
	/**
	 * The restore point is made by the driver's own `backup` of the replaced VM (on this pwsh), so it
	 * keeps the VM's configuration and Id: a restore under its name imports it (its identity kept).
	 */
	backedUpWith?: string;
}

export interface Scenario {
	host: ModelHost;
	destination: string;
	backup: string;
	replaced: Record<string, unknown> & { id: string };
	state: string;
}

export async function sha256(file: string): Promise<string> {
	return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

export async function scenario(root: string, name: string, options: ScenarioOptions = {}): Promise<Scenario> {
	const vm = options.vm ?? 'web01';
	const dir = path.join(root, name);
	const disks = options.disks ?? [{ controller: 'scsi', controllerNumber: 0, location: 0 }];
	const nics = options.nics ?? [{ switch: 'LAN', mac: '00:15:5D:01:02:03', vlan: 12 }];
	const extraSwitches = nics.filter((nic) => nic.switch !== 'LAN').map((nic, index) => ({ name: nic.switch, id: `6f1c2a3b-0000-4000-8000-1${String(index).padStart(11, '0')}`, switchType: 'Private' }));
	const host = await createModelHost(path.join(dir, 'host'), options.host ?? {});
	if (extraSwitches.length > 0) {
		host.state.switches = [...(host.state.switches as unknown[]), ...extraSwitches];
		await fs.writeFile(path.join(host.root, 'host.json'), JSON.stringify(host.state, null, 2));
	}
	const identity = options.backedUpWith !== undefined;
	await fs.writeFile(path.join(host.driveD, 'Hyper-V', 'Virtual Hard Disks', `${vm}-old.vhdx`), modelVhdx({ diskIdentifier: 'AAAAAAAA-0000-4000-8000-000000000001', ...(identity ? { records: ['installed by the backup'] } : {}) }));
	const replaced = (await seedVm(host, { name: vm, disk: `D:\\Hyper-V\\Virtual Hard Disks\\${vm}-old.vhdx` })) as Scenario['replaced'];
	if (options.notes !== undefined) {
		replaced.notes = options.notes;
		await fs.writeFile(path.join(host.root, 'vms', `${replaced.id}.json`), JSON.stringify(replaced, null, 2));
	}
	const destination = path.join(dir, options.destinationDir ?? 'destination');
	const point = path.join(destination, vm, 'rp-20260101');
	if (options.backedUpWith !== undefined) {
		const runner = new ChannelRunner({ computer: null, hostId: 'hyperv', channel: new NodePowerShellChannel({ executable: options.backedUpWith, prelude: modelPrelude(host, options.backedUpWith) }) });
		try {
			await backupVm({ runner, vmName: vm, destination, pointId: path.basename(point), pollIntervalMs: 100 });
		} finally {
			await runner.dispose();
		}
		return { host, destination, backup: path.join(point, 'disk0.vhdx'), replaced, state: path.join(dir, 'state') };
	}
	await writeManifest(point, {
		takenAt: '2026-01-01T00:00:00Z',
		vm: { id: '0a8f3f2e-8d55-4c55-9a4e-3f1f9ad2b0c1', generation: 2, firmware: 'uefi', secureBoot: true, secureBootTemplate: 'MicrosoftWindows', cpus: 2, memoryMiB: 2048, nics, ...options.settings },
		disks: disks.map((disk, index) => ({ ...disk, file: `disk${index}.vhdx`, format: 'vhdx' as const, virtualSize: 64 * 2 ** 20 })),
	});
	const backup = path.join(point, 'disk0.vhdx');
	await fs.writeFile(backup, modelVhdx({ diskIdentifier: BACKUP_ID, records: ['installed by the backup'] }));
	for (let index = 1; index < disks.length; index++) {
		await fs.writeFile(path.join(point, `disk${index}.vhdx`), modelVhdx({ diskIdentifier: `0B0B0B0B-1111-4222-8333-44445555666${index}`, records: [`disk ${index} of the backup`] }));
	}
	return { host, destination, backup, replaced, state: path.join(dir, 'state') };
}

export function engineFor(pwsh: string, s: Scenario, options: Partial<HypervHostOptions> = {}) {
	const hyperv = modelDriver(pwsh, s.host, options);
	return { hyperv, engine: new Engine({ host: hyperv, stateDir: s.state, destination: s.destination }) };
}

/** A path of the model's D: drive on this machine. */
export function nativeOf(host: ModelHost, windowsPath: string): string {
	return path.join(host.driveD, ...windowsPath.slice(3).split('\\'));
}
