// Step 4 tells the truth (issue 11): a VM that dies right after launch fails the step with its
// evidence, and is not left looking alive; a VM that dies under KVM runs under TCG instead,
// once, and the lab remembers; the accelerator verdict comes from a real kernel.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { labPaths, resolvePaths } from '../../source/core/paths.ts';
import { detectAccelerator } from '../../source/hosts/lab/accel.ts';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { LabError } from '../../source/hosts/lab/errors.ts';
import { qemuVersion } from '../../source/qemu/qemu-img.ts';
import { runningPid, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { ensureProbeGuestImage } from '../../source/lab-builder/guest.ts';
import { createLabEnv, TEST_CACHE } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { destroyEnv, makeEnv, planInput, type TestEnv } from './helpers.ts';

let env: TestEnv;
let host: LabHost | null = null;

beforeEach(async () => {
	env = await makeEnv();
});

afterEach(async () => {
	await host?.close();
	host = null;
	await destroyEnv(env);
});

/** The shared test cache's lab guest (built once; `lab init` builds the same). */
function guestImage(): Promise<string> {
	return ensureProbeGuestImage(labPaths(resolvePaths({ state: '/unused', data: '/unused', cache: path.join(TEST_CACHE, 'rundirect') })).cache);
}

/** A qcow2 backup whose MBR runs `code` (16-bit real mode, at 0x7C00). */
async function bootCodeBackup(name: string, code: number[]): Promise<string> {
	const raw = path.join(env.root, `${name}.raw`);
	const image = Buffer.alloc(1024 * 1024);
	Buffer.from(code).copy(image, 0);
	image[510] = 0x55;
	image[511] = 0xaa;
	await fs.writeFile(raw, image);
	const qcow2 = path.join(env.root, `${name}.qcow2`);
	await execa('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
	await fs.chmod(qcow2, 0o444);
	return qcow2;
}

async function startedSession(backup: string, format: 'qcow2' | 'raw' = 'qcow2') {
	const size = (await fs.stat(backup)).size;
	const virtualSize = format === 'raw' ? size : 1024 * 1024;
	const plan = await host!.plan(planInput('s1', 'vm1', [{ backup, format: format as 'qcow2', virtualSize }]));
	await host!.createDisks(plan);
	await host!.createSnapshotLayer(plan);
	return plan;
}

// cli; hlt; jmp $-1 — halted with interrupts off: nothing ever wakes the CPU again.
const HALT = [0xfa, 0xf4, 0xeb, 0xfd];
// cli; lidt [limit 0]; int3 — no interrupt table: #GP, double fault, triple fault, reset, over and over.
const TRIPLE_FAULT = [0xfa, 0x0f, 0x01, 0x1e, 0x0a, 0x7c, 0xcc, 0xeb, 0xfe, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];

it.each([
	['halts the CPU', HALT, /halted with interrupts disabled/],
	['triple-faults', TRIPLE_FAULT, /reset \d+ times/],
])('a VM whose boot code %s fails step 4 with its evidence, and is not left running', async (_what, code, reason) => {
	host = new LabHost({ paths: env.paths, accel: 'tcg' });
	const plan = await startedSession(await bootCodeBackup('dies', code));
	const began = Date.now();
	const error = await host.startVm(plan).then(
		() => null,
		(caught: unknown) => caught,
	);
	console.log(`[measure] dead VM detected in ${Date.now() - began} ms`);
	expect(error).toBeInstanceOf(LabError);
	expect((error as LabError).code).toBe('VM_DIED');
	const message = (error as LabError).message;
	expect(message).toMatch(reason);
	expect(message).toMatch(/Evidence: QEMU status \S+ after \d+ ms; serial console/);
	expect(message).toMatch(/What to do:/);
	// The dead QEMU is gone: status says so, as the journal will (the step failed).
	expect(await runningPid(runtimeFiles(labPaths(env.paths).run, 'vm1'))).toBeNull();
	expect((await host.status(plan)).vm).toBe('off');
});

it('a VM that dies under KVM runs under TCG instead, says so, and the lab remembers', async () => {
	const guest = await guestImage();
	host = new LabHost({ paths: env.paths, accel: 'kvm' });
	const plan = await startedSession(guest, 'raw');
	const note = await host.startVm(plan);
	const status = await host.status(plan);
	expect(status.vm).toBe('running');
	const cacheFile = path.join(labPaths(env.paths).cache, 'accel.json');
	if (note) {
		// This machine's KVM cannot run guest code (internal-error): the fallback happened.
		console.log(`[measure] fallback note: ${note}`);
		expect(note).toMatch(/KVM could not run vm1 .*fell back to TCG/);
		expect((await host.accelerator()).accel).toBe('tcg');
		expect(JSON.parse(await fs.readFile(cacheFile, 'utf8'))).toMatchObject({ accel: 'tcg', probe: 'vm' });
		const cmdline = await fs.readFile(`/proc/${(await runningPid(runtimeFiles(labPaths(env.paths).run, 'vm1')))!}/cmdline`, 'utf8');
		expect(cmdline.split('\0')).toContain('tcg');
		// A later controller of this lab does not try KVM again.
		expect(await detectAccelerator({ cacheDir: labPaths(env.paths).cache })).toMatchObject({ accel: 'tcg', source: 'cache', probe: 'vm' });
	} else {
		console.log('[measure] KVM ran the lab guest here: no fallback needed');
	}
});

it('the verdict is proven by a real kernel, not only a boot sector: a boot-sector "kvm" is probed again', async () => {
	try {
		await (await fs.open('/dev/kvm', fsConstants.O_RDWR)).close();
	} catch {
		console.log('[measure] /dev/kvm cannot be opened: TCG without a probe, nothing to prove');
		return;
	}
	const guest = await guestImage();
	const cacheDir = labPaths(env.paths).cache;
	await fs.mkdir(cacheDir, { recursive: true });
	// What the issue saw on a destination without `lab init`: a boot sector's "kvm".
	await fs.writeFile(
		path.join(cacheDir, 'accel.json'),
		JSON.stringify({ qemuVersion: await qemuVersion(), kernel: os.release(), probe: 'boot-sector', accel: 'kvm', reason: 'KVM ran the probe boot sector', checkedAt: new Date().toISOString() }),
	);
	let asked = 0;
	const verdict = await detectAccelerator({
		cacheDir,
		probeGuest: async () => {
			asked += 1;
			return guest;
		},
	});
	expect(asked).toBe(1);
	expect(verdict).toMatchObject({ source: 'probe', probe: 'guest' });
	console.log(`[measure] real-kernel verdict: ${verdict.accel} (${verdict.reason})`);
	// Conclusive: cached and not probed again.
	expect(await detectAccelerator({ cacheDir, probeGuest: async () => ((asked += 1), guest) })).toMatchObject({ accel: verdict.accel, source: 'cache', probe: 'guest' });
	expect(asked).toBe(1);
});

it('rundirect start of a VM that dies fails, and the journal and `sessions` agree: never "running"', async () => {
	const lab = await createLabEnv();
	try {
		const dir = path.join(lab.root, 'dest', 'halt01', 'p1');
		await fs.mkdir(dir, { recursive: true });
		await fs.copyFile(await bootCodeBackup('halt', HALT), path.join(dir, 'disk0.qcow2'));
		await writeManifest(dir, { disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: 1024 * 1024 }] });
		const start = await lab.cli(['--destination', path.join(lab.root, 'dest'), 'start', 'halt01', '--yes', '--json'], { env: { RUNDIRECT_ACCEL: 'tcg' } });
		expect(start.exitCode, start.stderr).not.toBe(0);
		expect(`${start.stdout}${start.stderr}`).toMatch(/halted with interrupts disabled/);
		expect(start.events.some((event) => event.type === 'session' && (event as { session?: { state?: string } }).session?.state === 'running')).toBe(false);
		const listed = await lab.cli(['--destination', path.join(lab.root, 'dest'), 'sessions', '--json'], { env: { RUNDIRECT_ACCEL: 'tcg' } });
		const sessions = (listed.events.find((event) => event.type === 'sessions') as { sessions: Array<{ state: string; status: { vm: string } | null; lastError: { message: string } | null; problem: string | null }> }).sessions;
		expect(sessions).toHaveLength(1);
		expect(sessions[0]).toMatchObject({ state: 'failed', status: { vm: 'off' }, problem: null });
		expect(sessions[0]!.lastError?.message).toMatch(/VM halt01 did not keep running/);
		expect(await lab.qemuPids()).toEqual([]);
	} finally {
		await lab.cleanup();
	}
});
