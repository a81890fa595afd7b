// One lab VM = one detached qemu-system-x86_64 (-daemonize) with a pid file, a QMP unix
// socket and a serial log in the run folder, named by a short stable hash of the VM name.
// Whether a VM runs is read from the host (pid file + live qemu process), never remembered,
// so a restarted controller sees exactly what is there.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { QEMU_SYSTEM } from './qemu-img.ts';
import type { QmpClient } from './qmp.ts';
import { readTextIfExists } from '../../core/files.ts';
import { createPrivateFile, mkdirPrivate } from '../../core/private-files.ts';
import { LabError } from './errors.ts';

export type Accelerator = 'kvm' | 'tcg';

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/** Fixed node and device names: the steps find everything again by these after a restart. */
export function nodeNames(index: number) {
	return {
		backupFile: `backup${index}-file`,
		backup: `backup${index}`,
		overlayFile: `overlay${index}-file`,
		overlay: `overlay${index}`,
		prodFile: `prod${index}-file`,
		prod: `prod${index}`,
		device: `vd${index}`,
		/** What query-block reports as the device's qdev. */
		qdev: `/machine/peripheral/vd${index}/virtio-backend`,
	};
}

export function vmKey(name: string): string {
	return createHash('sha256').update(name).digest('hex').slice(0, 12);
}

export interface RuntimeFiles {
	key: string;
	pidFile: string;
	serialFile: string;
	qmpSocket: string;
}

/**
 * Where a VM's pid file, serial log and QMP socket live. Long run folders (deep XDG paths)
 * would exceed the unix socket limit: the socket then goes to a folder under os.tmpdir()
 * derived from the run folder (so every controller computes the same place), and a note
 * `<key>.qmp-path` in the run folder records where it is.
 */
export function runtimeFiles(runDir: string, name: string): RuntimeFiles {
	const key = vmKey(name);
	if (runDir.includes(',')) throw new LabError('RUN_FOLDER_UNUSABLE', `The lab run folder ${runDir} contains a comma, which QEMU's -qmp option cannot take; set XDG_DATA_HOME to a plainer path.`);
	let qmpSocket = path.join(runDir, `${key}.qmp`);
	if (Buffer.byteLength(qmpSocket) > MAX_SOCKET_PATH) {
		const fallbackDir = fallbackSocketDir(runDir);
		qmpSocket = path.join(fallbackDir, `${key}.qmp`);
		if (Buffer.byteLength(qmpSocket) > MAX_SOCKET_PATH || qmpSocket.includes(',')) {
			throw new LabError(
				'RUN_FOLDER_UNUSABLE',
				`The QMP socket path for VM ${name} is too long for a unix socket (${Buffer.byteLength(path.join(runDir, `${key}.qmp`))} bytes under ${runDir}, ` +
					`and the fallback under ${os.tmpdir()} is too long as well): use a shorter XDG_DATA_HOME or TMPDIR.`,
			);
		}
	}
	return { key, pidFile: path.join(runDir, `${key}.pid`), serialFile: path.join(runDir, `${key}.serial`), qmpSocket };
}

export function fallbackSocketDir(runDir: string): string {
	return path.join(os.tmpdir(), `rundirect-${createHash('sha256').update(runDir).digest('hex').slice(0, 8)}`);
}

async function prepareRunFolders(runDir: string, files: RuntimeFiles): Promise<void> {
	await mkdirPrivate(runDir);
	const socketDir = path.dirname(files.qmpSocket);
	if (socketDir !== runDir) {
		await mkdirPrivate(socketDir);
		await fs.writeFile(path.join(runDir, `${files.key}.qmp-path`), `${files.qmpSocket}\n`);
	}
}

export async function readPid(pidFile: string): Promise<number | null> {
	const text = await readTextIfExists(pidFile);
	if (text === null) return null;
	const pid = Number.parseInt(text.trim(), 10);
	return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The process argv from /proc, or null when the process is gone. */
export async function processCmdline(pid: number): Promise<string[] | null> {
	try {
		const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
		// A zombie has an empty cmdline: it is not running anything any more.
		if (!raw) return null;
		return raw.split('\0').filter((part) => part.length > 0);
	} catch {
		return null;
	}
}

/** The pid of the VM's QEMU when it is alive and really the QEMU started with this pid file (pids get reused). */
export async function runningPid(files: RuntimeFiles): Promise<number | null> {
	const pid = await readPid(files.pidFile);
	if (pid === null) return null;
	const argv = await processCmdline(pid);
	if (!argv) return null;
	const isQemu = path.basename(argv[0] ?? '').startsWith('qemu-system');
	return isQemu && argv.includes(files.pidFile) ? pid : null;
}

export type LaunchDisk =
	| { index: number; kind: 'backup'; backup: string; format: string; overlay: string }
	| { index: number; kind: 'production'; path: string; format: string };

export interface LaunchSpec {
	name: string;
	memoryMiB: number;
	firmware: 'bios' | 'uefi';
	accel: Accelerator;
	disks: LaunchDisk[];
}

export const OVMF_IMAGE = '/usr/share/qemu/OVMF.fd';

function blockdev(options: Record<string, unknown>): string[] {
	return ['-blockdev', JSON.stringify(options)];
}

/** The command line; disks on the backup get the fixed four-node chain, production disks two nodes. */
export function launchArgs(spec: LaunchSpec, files: RuntimeFiles): string[] {
	const args = [
		'-name', spec.name,
		'-machine', 'q35',
		'-accel', spec.accel,
		...(spec.accel === 'kvm' ? ['-cpu', 'qemu64,-pni'] : []),
		'-m', String(spec.memoryMiB),
		'-smp', '1',
		'-nodefaults',
		'-display', 'none',
		'-nic', 'none',
		...(spec.firmware === 'uefi' ? ['-bios', OVMF_IMAGE] : []),
		// ONE -serial: a second one would move the console to COM2.
		'-serial', `file:${files.serialFile}`,
		'-qmp', `unix:${files.qmpSocket},server=on,wait=off`,
		'-pidfile', files.pidFile,
		'-daemonize',
	];
	for (const disk of spec.disks) {
		const names = nodeNames(disk.index);
		let root: string;
		if (disk.kind === 'backup') {
			args.push(
				...blockdev({ driver: 'file', filename: disk.backup, 'node-name': names.backupFile, 'read-only': true }),
				...blockdev({ driver: disk.format, file: names.backupFile, 'node-name': names.backup, 'read-only': true }),
				...blockdev({ driver: 'file', filename: disk.overlay, 'node-name': names.overlayFile }),
				...blockdev({ driver: 'qcow2', file: names.overlayFile, backing: names.backup, 'node-name': names.overlay }),
			);
			root = names.overlay;
		} else {
			args.push(
				...blockdev({ driver: 'file', filename: disk.path, 'node-name': names.prodFile, discard: 'unmap' }),
				...blockdev({ driver: disk.format, file: names.prodFile, 'node-name': names.prod, discard: 'unmap', 'detect-zeroes': 'unmap' }),
			);
			root = names.prod;
		}
		args.push('-device', `virtio-blk-pci,drive=${root},id=${names.device}${disk.index === 0 ? ',bootindex=0' : ''}`);
	}
	return args;
}

/** Starts QEMU detached; -daemonize returns once QEMU has started (or failed to). */
export async function launch(runDir: string, spec: LaunchSpec): Promise<{ pid: number; files: RuntimeFiles }> {
	const files = runtimeFiles(runDir, spec.name);
	await prepareRunFolders(runDir, files);
	await fs.rm(files.qmpSocket, { force: true });
	await fs.rm(files.pidFile, { force: true });
	// QEMU opens -serial file: with the umask and keeps an existing file's mode: the log (what the guest prints, secrets too) is created 0600 first.
	await createPrivateFile(files.serialFile);
	const result = await execa(QEMU_SYSTEM, launchArgs(spec, files), { timeout: 60_000, reject: false, stdin: 'ignore' });
	if (result.failed) {
		const reason = (result.stderr || result.shortMessage || '').trim();
		throw new LabError('LAUNCH_FAILED', `Could not start VM ${spec.name}: ${reason}`);
	}
	const pid = await runningPid(files);
	if (pid === null) throw new LabError('LAUNCH_FAILED', `VM ${spec.name}: QEMU reported a start but ${files.pidFile} names no live QEMU process`);
	return { pid, files };
}

export async function waitForExit(pid: number, timeoutMs: number, pidFile?: string): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		const argv = await processCmdline(pid);
		if (!argv || (pidFile !== undefined && !argv.includes(pidFile))) return true;
		await sleep(50);
	}
	return false;
}

/**
 * Turns the VM off: QMP quit, wait for the process to go, SIGKILL by pid as a last resort.
 * Returns false when it was not running.
 */
export async function powerOff(files: RuntimeFiles, qmp: QmpClient | null, timeoutMs = 10_000): Promise<boolean> {
	const pid = await runningPid(files);
	if (pid === null) {
		await cleanupRuntime(files);
		return false;
	}
	const viaQmp = qmp?.connected === true;
	if (qmp && viaQmp) {
		// The answer may be lost when QEMU closes the socket first; the pid is the proof.
		await qmp.execute('quit', undefined, { timeoutMs: 2_000 }).catch(() => undefined);
	}
	if (!(await waitForExit(pid, viaQmp ? timeoutMs : 200, files.pidFile))) {
		try {
			process.kill(pid, 'SIGKILL');
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
		}
		if (!(await waitForExit(pid, 5_000, files.pidFile))) throw new LabError('QEMU_WONT_EXIT', `QEMU (pid ${pid}) did not exit even after SIGKILL`);
	}
	await cleanupRuntime(files);
	return true;
}

async function cleanupRuntime(files: RuntimeFiles): Promise<void> {
	await fs.rm(files.pidFile, { force: true });
	await fs.rm(files.qmpSocket, { force: true });
}
