// Every step run twice, with controller restarts (close the driver, make a new one) between
// steps, and a QEMU killed mid-session: the result is still byte-exact.
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { readPid, runningPid, runtimeFiles, waitForExit } from '../../source/hosts/lab/runtime.ts';
import { labPaths } from '../../source/core/paths.ts';
import { destroyEnv, expectedBytes, guestWrite, makeBackup, makeEnv, MiB, planInput, rawBytes, sha256, type TestEnv, type Write } from './helpers.ts';

const SIZE = 8 * MiB;
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

async function restartController(): Promise<void> {
	await host.close();
	host = new LabHost({ paths: env.paths, accel: 'tcg' });
}

it('runs every step twice across controller restarts and a QEMU crash', async () => {
	const lab = labPaths(env.paths);
	const backupWrites: Write[] = [{ pattern: 0x11, offset: 0, length: MiB }];
	const backup = await makeBackup(path.join(env.root, 'dest'), 'db01', SIZE, backupWrites);
	const backupHash = await sha256(backup);
	const plan = await host.plan(planInput('s3', 'db01', [{ backup, format: 'qcow2', virtualSize: SIZE }]));
	expect(plan.replaces).toBeNull();
	expect(await host.preflight(plan)).toEqual([]);
	expect(await host.setAsideVm(plan)).toBeNull();
	for (let i = 0; i < 2; i++) await host.createDisks(plan);
	for (let i = 0; i < 2; i++) await host.createSnapshotLayer(plan);
	await host.startVm(plan);
	const pid = await runningPid(runtimeFiles(lab.run, 'db01'));
	await restartController();
	await host.startVm(plan);
	expect(await runningPid(runtimeFiles(lab.run, 'db01'))).toBe(pid);

	const writes: Write[] = [{ pattern: 0xab, offset: MiB, length: 64 * 1024 }];
	await guestWrite(host, 'db01', writes[0]!);
	// Steps 2 and 3 again while running must keep the overlay (the guest's writes) intact.
	await host.createDisks(plan);
	await host.createSnapshotLayer(plan);

	// QEMU dies before step 5: copyData relaunches it on the overlay. Like a real guest, flush
	// first: unflushed qcow2 metadata dies with a SIGKILLed QEMU.
	await (await host.qmp('db01'))!.execute('human-monitor-command', { 'command-line': 'qemu-io -d /machine/peripheral/vd0/virtio-backend "flush"' });
	const files = runtimeFiles(lab.run, 'db01');
	const firstPid = (await readPid(files.pidFile))!;
	process.kill(firstPid, 'SIGKILL');
	expect(await waitForExit(firstPid, 5_000)).toBe(true);
	await restartController();
	await host.copyData(plan);
	expect(await runningPid(files)).not.toBe(firstPid);
	await host.copyData(plan);
	await restartController();

	writes.push({ pattern: 0xcd, offset: 3 * MiB, length: 64 * 1024 });
	await guestWrite(host, 'db01', writes[1]!);
	const first = await host.applyChanges(plan);
	expect(first.pauseMs).toBeGreaterThan(0);
	await restartController();
	expect(await host.applyChanges(plan)).toEqual({ pauseMs: 0 });
	expect((await host.status(plan)).runsOn).toBe('production');

	await host.deleteSnapshotLayer(plan);
	await restartController();
	await host.deleteSnapshotLayer(plan);
	const vms = await host.inventory();
	expect(vms).toMatchObject([{ name: 'db01', state: 'running', runningFromBackup: null, setAside: false, disks: [plan.disks[0]!.production] }]);
	const description = await host.describe();
	expect(description.summary).toMatch(/^QEMU \d+\.\d+\.\d+, TCG$/);

	const qmp = await host.qmp('db01');
	await qmp!.execute('quit').catch(() => undefined);
	const lastPid = (await readPid(files.pidFile)) ?? 0;
	await waitForExit(lastPid, 5_000);
	expect((await rawBytes(plan.disks[0]!.production)).equals(expectedBytes(SIZE, [...backupWrites, ...writes]))).toBe(true);
	expect(await sha256(backup)).toBe(backupHash);
});

it('adopts a copy job that a previous controller started', async () => {
	const lab = labPaths(env.paths);
	const backup = await makeBackup(path.join(env.root, 'dest'), 'app01', 64 * MiB, [{ pattern: 0x5a, offset: 0, length: 32 * MiB }]);
	const plan = await host.plan(planInput('s4', 'app01', [{ backup, format: 'qcow2', virtualSize: 64 * MiB }]));
	await host.createDisks(plan);
	await host.createSnapshotLayer(plan);
	await host.startVm(plan);
	const abort = new AbortController();
	const copying = host.copyData(plan, { signal: abort.signal, onProgress: () => abort.abort() });
	await expect(copying).rejects.toThrow();
	await restartController();
	await host.copyData(plan);
	await host.applyChanges(plan);
	await host.deleteSnapshotLayer(plan);
	await host.discard(plan);
	expect(await runningPid(runtimeFiles(lab.run, 'app01'))).toBeNull();
});
