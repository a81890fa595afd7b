// The lab's VMs share the CPU as one (priority.ts): each QEMU's scheduling group gets the
// niceness at which the running VMs together weigh one process; as VMs start and stop, the
// others follow. Real QEMUs (no disks: the firmware finds nothing to boot and keeps running).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { groupNiceness, shareNiceness } from '../../source/hosts/lab/priority.ts';
import { launch, powerOff, runningVmPids, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { legacyHardware } from '../../source/hosts/lab/hardware.ts';
import { processAlive, waitFor } from '../support/lab-env.ts';

const AUTOGROUPS = await fs.access('/proc/self/autogroup').then(
	() => true,
	() => false,
);
let runDir: string;
let pids: number[] = [];

beforeEach(async () => {
	runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-priority-'));
	pids = [];
});

afterEach(async () => {
	for (const pid of pids) if (await processAlive(pid)) process.kill(pid, 'SIGKILL');
	for (const pid of pids) await waitFor('QEMU to end', 10_000, async () => ((await processAlive(pid)) ? undefined : true), 20);
	await fs.rm(runDir, { recursive: true, force: true });
});

it('N VMs weigh about one process: niceness 0 for one, 3 for two, 10 for ten, never past 19', () => {
	expect([1, 2, 3, 4, 10, 100, 1000].map(shareNiceness)).toEqual([0, 3, 5, 6, 10, 19, 19]);
	// CFS: each step of niceness is ×1.25 of weight; N VMs at the niceness weigh within 12 % of one at 0.
	for (const vms of [2, 3, 4, 6, 10, 20]) expect(Math.abs(vms / 1.25 ** shareNiceness(vms) - 1)).toBeLessThan(0.12);
});

it.skipIf(!AUTOGROUPS)('each running VM gets the share of the ones running, and keeps following as they stop', async () => {
	const names = ['p1', 'p2', 'p3'];
	for (const name of names) {
		const { pid } = await launch(runDir, { name, memoryMiB: 32, hardware: legacyHardware(0, 1), accel: 'tcg', disks: [], network: 'user' });
		pids.push(pid);
	}
	expect((await runningVmPids(runDir)).sort()).toEqual([...pids].sort());
	const allAt = (nice: number, of: number[]) => waitFor(`niceness ${nice}`, 10_000, async () => ((await Promise.all(of.map(groupNiceness))).every((value) => value === nice) ? true : undefined), 20);
	await allAt(shareNiceness(3), pids);

	await powerOff(runtimeFiles(runDir, 'p1'), null);
	expect(await processAlive(pids[0]!)).toBe(false);
	await allAt(shareNiceness(2), pids.slice(1));
	await powerOff(runtimeFiles(runDir, 'p2'), null);
	await allAt(0, pids.slice(2));
	await powerOff(runtimeFiles(runDir, 'p3'), null);
	expect(await runningVmPids(runDir)).toEqual([]);
});
