// `rundirect backup` on Hyper-V against a PowerShell double: checkpoint, detached copies into a
// staging folder, checkpoint removed even on failure, a restore point the catalog accepts.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCatalog } from '../../source/catalog/catalog.ts';
import { backupVm, manifestFrom, pointIdFor } from '../../source/hosts/hyperv/backup.ts';
import type { PowerShellRunner } from '../../source/hosts/hyperv/runner.ts';
import type { PsScript } from '../../source/hosts/hyperv/scripts.ts';
import { ps51 } from './support.ts';
import { fakeVhdx } from './vhdx.ts';

const BEGIN = {
	name: 'db01',
	id: '0A8F3F2E-8D55-4C55-9A4E-3F1F9AD2B0C1',
	generation: 2,
	cpus: 4,
	memoryBytes: 4 * 2 ** 30,
	secureBoot: true,
	secureBootTemplate: 'MicrosoftWindows',
	nics: [{ switch: 'LAN', mac: '00155D010203', vlan: null }],
	disks: [{ path: 'D:\\VMs\\db01\\db01.vhdx', controller: 'SCSI', controllerNumber: 0, location: 0, format: 'VHDX', size: 256 * 1024 }],
	takenAt: '2026-01-02T03:04:05.0000000Z',
};

let root: string;
beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-backup-'));
});
afterEach(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

/** Answers like the host; the "copy" writes the target file itself, as the worker would. */
function runner(options: { failCopy?: boolean } = {}): PowerShellRunner & { calls: string[] } {
	const calls: string[] = [];
	let polls = 0;
	return {
		calls,
		async run(script: PsScript, params: unknown) {
			calls.push(script.name);
			const p = params as { start?: boolean; jobs?: Array<{ target: string }> };
			if (script.name === 'backup-begin') return ps51(BEGIN);
			if (script.name === 'backup-end') return { removed: true };
			if (script.name === 'copy') {
				polls++;
				const done = polls >= 2;
				if (done && !options.failCopy) for (const job of p.jobs ?? []) await fs.writeFile(job.target, fakeVhdx());
				return ps51({ jobs: (p.jobs ?? []).map((job) => ({ target: job.target, status: options.failCopy && done ? 'failed' : done ? 'done' : 'running', done: 10, total: 10, error: options.failCopy ? 'disk full' : null })) });
			}
			throw new Error(`unexpected ${script.name}`);
		},
		async dispose() {},
	};
}

describe('rundirect backup (Hyper-V)', () => {
	it('writes a restore point the catalog accepts, and removes the checkpoint', async () => {
		const double = runner();
		const result = await backupVm({ runner: double, vmName: 'db01', destination: root, pollIntervalMs: 1, now: new Date('2026-01-02T03:04:05Z') });
		expect(result.pointId).toBe('20260102-030405');
		expect(double.calls).toEqual(['backup-begin', 'copy', 'copy', 'backup-end']);
		const catalog = await readCatalog(root);
		expect(catalog.problems).toEqual([]);
		expect(catalog.points).toHaveLength(1);
		expect(catalog.points[0]?.manifest).toMatchObject({ vm: { name: 'db01', generation: 2, firmware: 'uefi', cpus: 4, memoryMiB: 4096, nics: [{ switch: 'LAN', mac: '00:15:5D:01:02:03', vlan: null }] }, disks: [{ controller: 'scsi', file: 'disk0.vhdx', format: 'vhdx' }] });
		expect((await fs.readdir(path.join(root, 'db01'))).filter((name) => name.startsWith('.'))).toEqual([]);
	});

	it('removes the checkpoint and publishes nothing when the copy fails', async () => {
		const double = runner({ failCopy: true });
		await expect(backupVm({ runner: double, vmName: 'db01', destination: root, pollIntervalMs: 1 })).rejects.toThrow(/disk full/);
		expect(double.calls.at(-1)).toBe('backup-end');
		expect((await readCatalog(root)).points).toEqual([]);
	});

	it('validates the settings read from the VM like any restore point', () => {
		expect(() => manifestFrom({ ...BEGIN, cpus: 0 }, 'x1')).toThrow(/vm.cpus/);
		expect(() => manifestFrom({ ...BEGIN, disks: [{ ...BEGIN.disks[0], format: 'VHD' }] }, 'x1')).toThrow(/VHDX disks only/);
		expect(pointIdFor(new Date('2026-12-31T23:59:58Z'))).toBe('20261231-235958');
	});
});
