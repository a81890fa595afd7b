// Shared by the lab-build tests: isolated data/state folders, a shared download cache, and
// a bounded QEMU boot of the lab guest under TCG.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { resolvePaths, type Paths } from '../../source/core/paths.ts';

/** Temp data and state, but the real cache: downloading the kernel every run is slow. */
export async function testPaths(): Promise<{ root: string; paths: Paths }> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-'));
	const cache = process.env.RUNDIRECT_TEST_CACHE || resolvePaths().cache;
	return { root, paths: resolvePaths({ data: path.join(root, 'data'), state: path.join(root, 'state'), cache }) };
}

export async function removeTree(root: string): Promise<void> {
	// Backups are 0444 files; their folders stay writable, so rm works without chmod.
	await fs.rm(root, { recursive: true, force: true });
}

export async function listFiles(dir: string): Promise<string[]> {
	const found: string[] = [];
	for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) found.push(...(await listFiles(full)));
		else found.push(full);
	}
	return found.sort();
}

export async function sha256(file: string): Promise<string> {
	return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

/** path → "mtime sha256" for every file under dir. */
export async function snapshotTree(dir: string): Promise<Map<string, string>> {
	const result = new Map<string, string>();
	for (const file of await listFiles(dir)) {
		const stat = await fs.stat(file);
		result.set(file, `${stat.mtimeMs} ${await sha256(file)}`);
	}
	return result;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>, intervalMs = 100): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, intervalMs));
	}
}

export interface BootDisk {
	/** -blockdev JSON objects, in order; the last one is the device's node. */
	readonly blockdevs: ReadonlyArray<Record<string, unknown>>;
}

/** A writable qcow2 overlay on top of `backing`: the guest writes there, never to the backing file. */
export function overlayDisk(id: string, backing: string, backingFormat: string, overlay: string): BootDisk {
	return {
		blockdevs: [
			{ driver: 'file', filename: backing, 'node-name': `${id}-base-file`, 'read-only': true },
			{ driver: backingFormat, file: `${id}-base-file`, 'node-name': `${id}-base`, 'read-only': true },
			{ driver: 'file', filename: overlay, 'node-name': `${id}-top-file` },
			{ driver: 'qcow2', file: `${id}-top-file`, backing: `${id}-base`, 'node-name': id },
		],
	};
}

export interface RunningGuest {
	readonly pid: number;
	readonly serialLog: string;
	readonly startedAt: number;
	/** Kills QEMU (by its pid) and waits for it to exit. Safe to call twice. */
	kill(): Promise<void>;
}

/** Starts QEMU on the given disks (disk 0 boots) with the serial console in a file. */
export async function startGuest(workDir: string, disks: readonly BootDisk[]): Promise<RunningGuest> {
	const serialLog = path.join(workDir, `serial-${Date.now()}.log`);
	const args = ['-machine', 'q35', '-accel', 'tcg', '-smp', '1', '-m', '256', '-nodefaults', '-display', 'none', '-serial', `file:${serialLog}`];
	disks.forEach((disk, index) => {
		for (const node of disk.blockdevs) args.push('-blockdev', JSON.stringify(node));
		const top = disk.blockdevs.at(-1)?.['node-name'];
		args.push('-device', `virtio-blk-pci,drive=${String(top)},id=vd${index}${index === 0 ? ',bootindex=0' : ''}`);
	});
	const startedAt = Date.now();
	const child: ResultPromise = execa('qemu-system-x86_64', args, { reject: false, stdin: 'ignore' });
	const pid = child.pid;
	if (pid === undefined) throw new Error('qemu-system-x86_64 did not start');
	let exited = false;
	void child.then(() => {
		exited = true;
	});
	return {
		pid,
		serialLog,
		startedAt,
		async kill() {
			if (!exited) {
				try {
					process.kill(pid, 'SIGKILL');
				} catch {
					// already gone
				}
			}
			await child;
		},
	};
}

export async function readSerial(guest: RunningGuest): Promise<string> {
	return fs.readFile(guest.serialLog, 'utf8').catch(() => '');
}

/** Milliseconds from start to the marker line; throws (with the serial log) on timeout. */
export async function waitForMarker(guest: RunningGuest, marker: string, timeoutMs = 60_000): Promise<number> {
	try {
		await waitFor(`the guest marker ${marker}`, timeoutMs, async () => (await readSerial(guest)).includes(marker));
	} catch (error) {
		throw new Error(`${(error as Error).message}; serial log:\n${(await readSerial(guest)).slice(-2000)}`, { cause: error });
	}
	return Date.now() - guest.startedAt;
}

export async function waitForTicks(guest: RunningGuest, count: number, timeoutMs = 30_000): Promise<void> {
	await waitFor(`${count} ticks on the serial console`, timeoutMs, async () => new RegExp(`rundirect-tick ${count}\\b`).test(await readSerial(guest)));
}

export async function createOverlayFile(overlay: string, backing: string, backingFormat: string): Promise<void> {
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFormat, overlay], { stdin: 'ignore' });
}
