// Fault injection on the real lab host: the controller is SIGKILLed at every step boundary
// and in the middle of steps 2, 5 and 6, and QEMU itself is killed in the middle of steps 5
// and 6. After each, `resume` (or the same command again) must end the session exactly:
// finalize → production = backup + every flushed guest write, byte for byte; stop → nothing
// of the session left but its journal entry, the replaced VM back as it was. The backup's
// sha256 never changes.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, processAlive, sha256, waitFor, type CliResult, type LabEnv } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { expectedBytes, makeBackup, rawBytes, type Write } from '../lab-host/helpers.ts';
import { recordReliability } from '../support/reliability.ts';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { definitionPath, readDefinition, writeDefinition } from '../../source/hosts/lab/definition.ts';
import { Journal } from '../../source/restore/journal.ts';
import type { SessionRecord, StepId } from '../../source/restore/session.ts';

const MiB = 2 ** 20;
const VM = 'fault01';
const DISKS = [
	{ size: 16 * MiB, writes: [{ pattern: 0x11, offset: 0, length: 6 * MiB }, { pattern: 0x22, offset: 8 * MiB, length: 6 * MiB }] },
	{ size: 8 * MiB, writes: [{ pattern: 0x33, offset: 1 * MiB, length: 4 * MiB }] },
];
/** Slow enough that a test can kill QEMU in the middle of a copy, fast enough to finish. */
const RATE_LIMIT_MIB = '6';

let lab: LabEnv;
let destination: string;
let backups: string[] = [];
let backupSums: string[] = [];

beforeAll(async () => {
	lab = await createInitializedLabEnv();
	destination = path.join(lab.root, 'destination');
	const pointDir = path.join(destination, VM, 'p1');
	backups = [];
	for (const [index, disk] of DISKS.entries()) backups.push(await makeBackup(pointDir, `disk${index}`, disk.size, disk.writes));
	await writeManifest(pointDir, { disks: DISKS.map((disk, index) => ({ file: `disk${index}.qcow2`, format: 'qcow2', virtualSize: disk.size })) });
	backupSums = await Promise.all(backups.map((file) => sha256(file)));
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

function cli(args: string[], fault?: string): Promise<CliResult> {
	return lab.cli(['--destination', destination, ...args, '--json'], fault ? { env: { RUNDIRECT_FAULT: fault } } : {});
}

async function journal(id: string): Promise<SessionRecord> {
	const record = await new Journal(lab.paths.state).read(id);
	if (!record) throw new Error(`no journal entry ${id}`);
	return record;
}

/** The VM being replaced: a lab VM with known bytes on its production disk. */
async function createReplacedVm(): Promise<{ file: string; sum: string }> {
	const dir = path.join(lab.lab.production, VM);
	await fs.rm(dir, { recursive: true, force: true });
	await fs.mkdir(dir, { recursive: true });
	const file = path.join(dir, 'disk0.qcow2');
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(4 * MiB)]);
	await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', file]);
	await writeDefinition(definitionPath(lab.lab.vms, VM), {
		schemaVersion: 1,
		name: VM,
		id: '9b2c4f0e-6b1d-4c55-8a55-6c3f2d9c1a10',
		cpus: 1,
		memoryMiB: 128,
		disks: [{ path: file, format: 'qcow2' }],
		nics: [],
		runningFromBackup: null,
		setAsideBy: null,
		createdAt: '2026-11-25T00:00:00.000Z',
	});
	return { file, sum: await sha256(file) };
}

/** Writes as the guest would (through the device), flushed. Recorded so the expected bytes follow. */
async function guestWrites(writes: Array<Write & { disk: number }>, model: Buffer[]): Promise<void> {
	const host = new LabHost({ paths: lab.paths, accel: 'tcg' });
	try {
		const qmp = await host.qmp(VM);
		if (!qmp) throw new Error(`${VM} does not run`);
		for (const write of writes) {
			const device = `/machine/peripheral/vd${write.disk}/virtio-backend`;
			for (const command of [`write -P 0x${write.pattern.toString(16)} ${write.offset} ${write.length}`, 'flush']) {
				const output = await qmp.execute<string>('human-monitor-command', { 'command-line': `qemu-io -d ${device} "${command}"` });
				if (output.trim() && !/wrote \d+\/\d+ bytes/.test(output)) throw new Error(`guest write failed: ${output}`);
			}
			model[write.disk]?.fill(write.pattern, write.offset, write.offset + write.length);
		}
	} finally {
		await host.close();
	}
}

function countDifferences(actual: Buffer, expected: Buffer): number {
	let differences = Math.abs(actual.length - expected.length);
	const length = Math.min(actual.length, expected.length);
	for (let index = 0; index < length; index++) if (actual[index] !== expected[index]) differences++;
	return differences;
}

async function killQemuWhen(id: string, step: StepId, timeoutMs: number): Promise<void> {
	await waitFor(`step ${step} to be under way`, timeoutMs, async () => {
		const record = await new Journal(lab.paths.state).read(id);
		const current = record?.steps.find((candidate) => candidate.id === step);
		return current?.status === 'running' && (current.bytesDone ?? 0) > 0 ? true : undefined;
	}, 50);
	for (const pid of await lab.qemuPids()) process.kill(pid, 'SIGKILL');
}

interface FaultCase {
	name: string;
	ending: 'finalize' | 'stop';
	/** RUNDIRECT_FAULT for the start, the finalize or the stop. */
	startFault?: string;
	endFault?: string;
	/** Kill QEMU (not the controller) once this step is under way. */
	qemuKillIn?: StepId;
	/** For a stop: first a finalize killed by this fault, then `resume --rollback`. */
	finalizeFault?: string;
}

const STEP_BOUNDARIES: FaultCase[] = [
	...(['replace-vm', 'create-disks', 'snapshot-layer', 'start-vm'] as const).map((step) => ({ name: `controller killed after ${step}`, ending: 'finalize' as const, startFault: `kill-after:${step}` })),
	{ name: 'controller killed in the middle of create-disks', ending: 'finalize', startFault: 'kill-during:create-disks' },
	...(['copy-data', 'apply-changes', 'delete-layer', 'purge-replaced'] as const).map((step) => ({ name: `controller killed after ${step}`, ending: 'finalize' as const, endFault: `kill-after:${step}` })),
	{ name: 'controller killed in the middle of copy-data', ending: 'finalize', endFault: 'kill-during:copy-data' },
	{ name: 'controller killed in the middle of apply-changes', ending: 'finalize', endFault: 'kill-during:apply-changes' },
	{ name: 'controller killed after discard (stop)', ending: 'stop', endFault: 'kill-after:discard' },
	{ name: 'controller killed after restore-replaced (stop)', ending: 'stop', endFault: 'kill-after:restore-replaced' },
	{ name: 'controller killed after start-vm, then stopped', ending: 'stop', startFault: 'kill-after:start-vm' },
	{ name: 'controller killed in the middle of copy-data, then rolled back', ending: 'stop', finalizeFault: 'kill-during:copy-data' },
	{ name: 'QEMU killed in the middle of copy-data', ending: 'finalize', qemuKillIn: 'copy-data' },
	{ name: 'QEMU killed in the middle of apply-changes', ending: 'finalize', qemuKillIn: 'apply-changes' },
];

describe('fault injection on the lab host', () => {
	it.each(STEP_BOUNDARIES)('$name', async (fault) => {
		const replaced = await createReplacedVm();
		const model = await Promise.all(DISKS.map((disk) => Promise.resolve(expectedBytes(disk.size, disk.writes))));
		let killedControllers = 0;

		// Start (steps 1–4), possibly killed, then resumed.
		let started = await cli(['start', VM, '--yes'], fault.startFault);
		const id = String(started.events.find((event) => event.type === 'session')?.id);
		if (fault.startFault) {
			expect(started.signal, started.stderr).toBe('SIGKILL');
			killedControllers++;
			if (fault.ending === 'finalize') {
				started = await cli(['resume']);
				expect(started.exitCode, started.stderr).toBe(0);
			}
		} else {
			expect(started.exitCode, started.stderr).toBe(0);
		}

		if (fault.ending === 'finalize') {
			expect((await journal(id)).state).toBe('running');
			await guestWrites([{ disk: 0, pattern: 0xa1, offset: 2 * MiB, length: 3 * MiB }, { disk: 1, pattern: 0xb2, offset: 0, length: 2 * MiB }], model);

			const rate = fault.qemuKillIn ? ['--rate-limit', RATE_LIMIT_MIB] : [];
			const finalizing = cli(['finalize', id, '--yes', ...rate], fault.endFault);
			if (fault.qemuKillIn) await killQemuWhen(id, fault.qemuKillIn, 60_000);
			const first = await finalizing;
			if (fault.endFault) {
				expect(first.signal, first.stderr).toBe('SIGKILL');
				killedControllers++;
				// The VM keeps running while no controller is there: its writes must survive too.
				if ((await lab.qemuPids()).length > 0 && (await journal(id)).steps.find((step) => step.id === 'apply-changes')?.status !== 'done') {
					await guestWrites([{ disk: 0, pattern: 0xc3, offset: 10 * MiB, length: 1 * MiB }], model);
				}
				const resumed = await cli(['resume']);
				expect(resumed.exitCode, resumed.stderr).toBe(0);
			} else if (fault.qemuKillIn) {
				expect(first.exitCode).toBe(1);
				expect((await journal(id)).state).toBe('failed');
				const retried = await cli(['finalize', id, '--yes']);
				expect(retried.exitCode, retried.stderr).toBe(0);
				// The dead VM is started again before the copy, and says so (never unseen).
				expect(retried.events.find((event) => event.type === 'warning')?.message).toContain(`restarted ${VM} on its snapshot layer`);
			} else {
				expect(first.exitCode, first.stderr).toBe(0);
			}
			const done = await journal(id);
			expect(done.state).toBe('finalized');
			const pids = await lab.qemuPids();
			expect(pids).toHaveLength(1);
			for (const pid of pids) process.kill(pid, 'SIGKILL');
			await waitFor('QEMU to exit', 10_000, async () => ((await processAlive(pids[0] ?? 0)) ? undefined : true));

			let bytesLost = 0;
			for (const disk of done.plan.disks) bytesLost += countDifferences(await rawBytes(disk.production), model[disk.index] ?? Buffer.alloc(0));
			const backupChanged = (await Promise.all(backups.map((file) => sha256(file)))).some((sum, index) => sum !== backupSums[index]);
			const leftovers = await Promise.all(done.plan.disks.map((disk) => fs.access(disk.overlay).then(() => disk.overlay, () => null)));
			await recordReliability({ kind: 'fault', case: fault.name, ending: 'finalize', controllersKilled: killedControllers, qemuKilled: fault.qemuKillIn ? 1 : 0, survived: bytesLost === 0 && !backupChanged, bytesLost, backupChanged });
			expect(bytesLost).toBe(0);
			expect(backupChanged).toBe(false);
			expect(leftovers.filter(Boolean)).toEqual([]);
			// Finalized: the replaced VM was purged (its set-aside copy is gone), the VM runs on production.
			expect((await fs.readdir(lab.lab.vms)).filter((name) => name.includes('~'))).toEqual([]);
			expect(await fs.readdir(path.join(lab.lab.production, '.set-aside')).catch(() => [])).toEqual([]);
			expect((await readDefinition(definitionPath(lab.lab.vms, VM)))?.disks.map((disk) => disk.path)).toEqual(done.plan.disks.map((disk) => disk.production));
		} else {
			const running = await journal(id);
			if (fault.finalizeFault) {
				const finalizing = await cli(['finalize', id, '--yes'], fault.finalizeFault);
				expect(finalizing.signal, finalizing.stderr).toBe('SIGKILL');
				killedControllers++;
			}
			const stopping = fault.finalizeFault ? await cli(['resume', '--rollback', '--yes']) : await cli(['stop', id, '--yes'], fault.endFault);
			if (fault.endFault) {
				expect(stopping.signal, stopping.stderr).toBe('SIGKILL');
				killedControllers++;
				const resumed = await cli(['resume']);
				expect(resumed.exitCode, resumed.stderr).toBe(0);
			} else {
				expect(stopping.exitCode, stopping.stderr).toBe(0);
			}
			const stopped = await journal(id);
			expect(stopped.state).toBe('stopped');
			const remains = (
				await Promise.all(
					[running.plan.workDir, ...running.plan.disks.flatMap((disk) => [disk.overlay, disk.production])]
						// The replaced VM's disk is back where the restored VM's would have been: that is correct.
						.filter((file) => file !== replaced.file)
						.map((file) => fs.access(file).then(() => file, () => null)),
				)
			).filter(Boolean);
			const definition = await readDefinition(definitionPath(lab.lab.vms, VM));
			const replacedBack = definition?.disks[0]?.path === replaced.file && (await sha256(replaced.file)) === replaced.sum;
			const backupChanged = (await Promise.all(backups.map((file) => sha256(file)))).some((sum, index) => sum !== backupSums[index]);
			await recordReliability({ kind: 'fault', case: fault.name, ending: 'stop', controllersKilled: killedControllers, qemuKilled: 0, survived: remains.length === 0 && replacedBack && !backupChanged, bytesLost: 0, backupChanged, replacedVmLost: !replacedBack });
			expect(remains).toEqual([]);
			expect(replacedBack).toBe(true);
			expect(backupChanged).toBe(false);
			expect(await lab.qemuPids()).toEqual([]);
			expect((await fs.readdir(lab.lab.vms)).filter((name) => name.includes('~'))).toEqual([]);
		}
	});
});
