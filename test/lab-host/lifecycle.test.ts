// End to end on real QEMU (TCG, no bootable guest needed): a Run Direct of a backup over an
// existing lab VM, then finalize (byte-exact result, backup untouched) or stop (nothing of
// the session remains, the replaced VM comes back).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definitionPath, readDefinition, writeDefinition } from '../../source/hosts/lab/definition.ts';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { runningPid, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { labPaths } from '../../source/core/paths.ts';
import { destroyEnv, exists, expectedBytes, guestWrite, makeBackup, makeEnv, MiB, planInput, rawBytes, sha256, type TestEnv, type Write } from './helpers.ts';

const SIZE = 8 * MiB;
const BACKUP_WRITES: Write[] = [
	{ pattern: 0x11, offset: 0, length: MiB },
	{ pattern: 0x22, offset: 4 * MiB, length: 512 * 1024 },
];

let env: TestEnv;
let host: LabHost;

beforeEach(async () => {
	env = await makeEnv();
	host = new LabHost({ paths: env.paths, accel: 'tcg' });
});

afterEach(async () => {
	await host.close();
	await destroyEnv(env);
});

/** An existing lab VM "web01" that the restore replaces. */
async function existingVm(): Promise<string> {
	const lab = labPaths(env.paths);
	const disk = path.join(lab.production, 'web01', 'disk0.qcow2');
	await fs.mkdir(path.dirname(disk), { recursive: true });
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(SIZE)]);
	await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 64k', disk]);
	await writeDefinition(definitionPath(lab.vms, 'web01'), {
		schemaVersion: 1,
		name: 'web01',
		id: '0b5cf3a4-6a33-4b8e-9a3f-3d1f1d6a8c01',
		cpus: 1,
		memoryMiB: 128,
		disks: [{ path: disk, format: 'qcow2' }],
		nics: [],
		runningFromBackup: null,
		setAsideBy: null,
		createdAt: new Date().toISOString(),
	});
	return disk;
}

describe.each(['qcow2', 'vhdx'] as const)('lab host lifecycle, %s backup', (format) => {
	it('finalizes: production = backup + every guest write, backup unchanged', async () => {
		const lab = labPaths(env.paths);
		const oldDisk = await existingVm();
		const backup = await makeBackup(path.join(env.root, 'dest'), 'web01-disk0', SIZE, BACKUP_WRITES, format);
		const backupHash = await sha256(backup);

		const plan = await host.plan(planInput('s1', 'web01', [{ backup, format, virtualSize: SIZE }]));
		expect(plan.replaces).toBe('web01');
		expect(plan.productionDir).toBe(path.join(lab.production, 'web01'));
		expect(await host.preflight(plan)).toEqual([]);

		const record = await host.setAsideVm(plan);
		expect(record?.asideName).toBe('web01~s1');
		expect(await exists(oldDisk)).toBe(false);
		expect((await readDefinition(definitionPath(lab.vms, 'web01~s1')))?.setAsideBy).toBe('s1');

		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		const launched = Date.now();
		await host.startVm(plan);
		const startMs = Date.now() - launched;
		let status = await host.status(plan);
		expect(status.vm).toBe('running');
		expect(status.runsOn).toBe('backup');
		console.log(`[measure] ${format}: startVm (launch to QMP running) ${startMs} ms`);

		const writes: Write[] = [{ pattern: 0xab, offset: MiB, length: 64 * 1024 }];
		await guestWrite(host, 'web01', writes[0]!);
		const progress: number[] = [];
		await host.copyData(plan, { onProgress: (report) => progress.push(report.done) });
		expect(progress.at(-1)).toBe(SIZE);

		writes.push({ pattern: 0xcd, offset: 2 * MiB, length: 128 * 1024 });
		await guestWrite(host, 'web01', writes[1]!);
		expect((await host.status(plan)).bytesChanged).toBeGreaterThan(0);

		const { pauseMs } = await host.applyChanges(plan);
		console.log(`[measure] ${format}: applyChanges pause ${pauseMs.toFixed(2)} ms`);
		expect(pauseMs).toBeGreaterThan(0);
		expect(pauseMs).toBeLessThan(2_000);
		expect((await readDefinition(definitionPath(lab.vms, 'web01')))?.disks[0]?.path).toBe(plan.disks[0]!.production);
		status = await host.status(plan);
		expect(status.runsOn).toBe('production');

		// After the switch the guest writes land on production directly.
		writes.push({ pattern: 0xef, offset: 0, length: 4096 });
		await guestWrite(host, 'web01', writes[2]!);

		await host.deleteSnapshotLayer(plan);
		expect(await exists(plan.workDir)).toBe(false);
		expect((await readDefinition(definitionPath(lab.vms, 'web01')))?.runningFromBackup).toBeNull();
		await host.purgeSetAside(plan, record!);
		expect(await exists(definitionPath(lab.vms, 'web01~s1'))).toBe(false);

		// Power off via a discard-free path: quit and compare bytes.
		const qmp = await host.qmp('web01');
		await qmp!.execute('quit').catch(() => undefined);
		for (let i = 0; i < 100 && (await runningPid(runtimeFiles(lab.run, 'web01'))) !== null; i++) await new Promise((r) => setTimeout(r, 50));
		expect(await runningPid(runtimeFiles(lab.run, 'web01'))).toBeNull();

		const actual = await rawBytes(plan.disks[0]!.production);
		expect(actual.equals(expectedBytes(SIZE, [...BACKUP_WRITES, ...writes]))).toBe(true);
		expect(await sha256(backup)).toBe(backupHash);
		expect((await execa('qemu-img', ['check', plan.disks[0]!.production])).exitCode).toBe(0);
	});
});

describe('lab host stop', () => {
	it('discards the session and brings the replaced VM back', async () => {
		const lab = labPaths(env.paths);
		const oldDisk = await existingVm();
		const oldBytes = await rawBytes(oldDisk);
		const backup = await makeBackup(path.join(env.root, 'dest'), 'web01-disk0', SIZE, BACKUP_WRITES);
		const backupHash = await sha256(backup);
		const plan = await host.plan(planInput('s2', 'web01', [{ backup, format: 'qcow2', virtualSize: SIZE }]));
		const record = await host.setAsideVm(plan);
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		await host.startVm(plan);
		await guestWrite(host, 'web01', { pattern: 0xab, offset: 0, length: 64 * 1024 });
		await host.copyData(plan);

		await host.discard(plan);
		await host.discard(plan);
		expect(await runningPid(runtimeFiles(lab.run, 'web01'))).toBeNull();
		for (const file of [plan.workDir, plan.disks[0]!.overlay, plan.disks[0]!.production]) expect(await exists(file)).toBe(false);
		expect(await host.status(plan)).toMatchObject({ vm: 'missing' });

		await host.restoreSetAside(plan, record!);
		await host.restoreSetAside(plan, record!);
		const restored = await readDefinition(definitionPath(lab.vms, 'web01'));
		expect(restored?.setAsideBy).toBeNull();
		expect(restored?.disks[0]?.path).toBe(oldDisk);
		expect((await rawBytes(oldDisk)).equals(oldBytes)).toBe(true);
		expect(await exists(path.join(lab.production, '.set-aside', 's2'))).toBe(false);
		expect((await host.inventory()).map((vm) => [vm.name, vm.setAside, vm.state])).toEqual([['web01', false, 'off']]);
		expect(await sha256(backup)).toBe(backupHash);
	});
});
