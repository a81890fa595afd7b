// Shared fixtures for the lab-host tests: isolated XDG folders (short, so QMP socket paths
// fit), backups with known bytes, and killing every QEMU a test started, by pid.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { PlanInput, RestorePlan } from '../../source/hosts/host.ts';
import type { LabHost } from '../../source/hosts/lab/driver.ts';
import { livePid, processCmdline } from '../../source/hosts/lab/runtime.ts';
import type { Paths } from '../../source/core/paths.ts';

export const MiB = 1024 * 1024;

export interface TestEnv {
	root: string;
	paths: Paths;
}

export async function makeEnv(): Promise<TestEnv> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-'));
	return { root, paths: { state: path.join(root, 's'), data: path.join(root, 'd'), cache: path.join(root, 'c') } };
}

/** Kills (SIGKILL, by pid) every QEMU whose pid file lies under `root`, then removes `root`. */
export async function destroyEnv(env: TestEnv): Promise<void> {
	for (const pidFile of await findPidFiles(env.root)) {
		const pid = await livePid(pidFile);
		if (pid === null) continue;
		try {
			process.kill(pid, 'SIGKILL');
		} catch {
			// already gone
		}
		for (let i = 0; i < 100 && (await processCmdline(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
	}
	await fs.chmod(env.root, 0o755).catch(() => undefined);
	await fs.rm(env.root, { recursive: true, force: true });
}

async function findPidFiles(dir: string): Promise<string[]> {
	const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
	return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.pid')).map((entry) => path.join(entry.parentPath, entry.name));
}

export interface Write {
	pattern: number;
	offset: number;
	length: number;
}

/** A qcow2 backup with known bytes, written BEFORE it is marked read-only (0444). */
export async function makeBackup(dir: string, name: string, size: number, writes: Write[], format: 'qcow2' | 'vhdx' = 'qcow2'): Promise<string> {
	await fs.mkdir(dir, { recursive: true });
	const qcow2 = path.join(dir, `${name}.qcow2`);
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, String(size)]);
	for (const write of writes) {
		await execa('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x${write.pattern.toString(16)} ${write.offset} ${write.length}`, qcow2]);
	}
	let file = qcow2;
	if (format === 'vhdx') {
		file = path.join(dir, `${name}.vhdx`);
		await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'vhdx', qcow2, file]);
		await fs.rm(qcow2);
	}
	await fs.chmod(file, 0o444);
	return file;
}

export function expectedBytes(size: number, writes: Write[]): Buffer {
	const buffer = Buffer.alloc(size);
	for (const write of writes) buffer.fill(write.pattern, write.offset, write.offset + write.length);
	return buffer;
}

/** The guest-visible bytes of an image (qemu-img convert -O raw). */
export async function rawBytes(image: string): Promise<Buffer> {
	const out = `${image}.raw-${process.pid}`;
	await execa('qemu-img', ['convert', '-U', '-O', 'raw', image, out]);
	try {
		return await fs.readFile(out);
	} finally {
		await fs.rm(out, { force: true });
	}
}

export { sha256 } from '../support/lab-env.ts';

/** A write as if the guest made it: through the device, so it lands on whatever the device runs on. */
export async function guestWrite(host: LabHost, vmName: string, write: Write, disk = 0): Promise<void> {
	const qmp = await host.qmp(vmName);
	if (!qmp) throw new Error(`${vmName} does not run`);
	const output = await qmp.execute<string>('human-monitor-command', {
		'command-line': `qemu-io -d /machine/peripheral/vd${disk}/virtio-backend "write -P 0x${write.pattern.toString(16)} ${write.offset} ${write.length}"`,
	});
	// HMP qemu-io prints nothing on success here; anything else is an error message.
	if (output.trim() && !/wrote \d+\/\d+ bytes/.test(output)) throw new Error(`guest write failed: ${output}`);
}

export function planInput(sessionId: string, name: string, disks: Array<{ backup: string; format: 'qcow2' | 'vhdx'; virtualSize: number }>, location = 'original'): PlanInput {
	return {
		sessionId,
		target: { name, location, replaceMode: 'set-aside' },
		disks: disks.map((disk, index) => ({ ...disk, controller: 'virtio', controllerNumber: 0, location: index })),
		settings: { generation: 1, firmware: 'bios', secureBoot: false, secureBootTemplate: null, cpus: 1, memoryMiB: 128, nics: [{ switch: 'lab', mac: null, vlan: null }] },
	};
}

/** Every path a plan names, for checks that nothing of a session remains. */
export function planFiles(plan: RestorePlan): string[] {
	return [plan.workDir, ...plan.disks.flatMap((disk) => [disk.overlay, disk.production])];
}

export async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}
