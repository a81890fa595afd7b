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
import { QEMU_SYSTEM } from '../../qemu/qemu-img.ts';
import type { QmpClient } from './qmp.ts';
import { exists, readTextIfExists } from '../../core/files.ts';
import { createPrivateFile, mkdirPrivate } from '../../core/private-files.ts';
import { LabError } from './errors.ts';
import { type DiskBus, firmwareImages, type LabHardware, qemuMac } from './hardware.ts';
import { createSegment, inSegment, segmentName, tapName } from '../../qemu/segment.ts';
import { shareTheCpu } from './priority.ts';

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

/** The network namespace of a drill VM with TCP checks (segment.ts): labs side by side never share one. */
export function labSegment(runDir: string, name: string): string {
	return segmentName(path.resolve(runDir), name);
}

export function vmKey(name: string): string {
	return createHash('sha256').update(name).digest('hex').slice(0, 12);
}

export interface RuntimeFiles {
	key: string;
	pidFile: string;
	serialFile: string;
	qmpSocket: string;
	/** The guest agent's channel (org.qemu.guest_agent.0), beside the QMP socket. */
	qgaSocket: string;
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
	return { key, pidFile: path.join(runDir, `${key}.pid`), serialFile: path.join(runDir, `${key}.serial`), qmpSocket, qgaSocket: qmpSocket.replace(/\.qmp$/, '.qga') };
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
	return livePid(files.pidFile);
}

/** The pid a pid file names while that pid is still the QEMU started with it (pids get reused). */
export async function livePid(pidFile: string): Promise<number | null> {
	const pid = await readPid(pidFile);
	if (pid === null) return null;
	const argv = await processCmdline(pid);
	return argv && isQemuOf(argv, pidFile) ? pid : null;
}

/** The process's argv is a QEMU started with this pid file (pids get reused). */
export function isQemuOf(argv: readonly string[], pidFile: string): boolean {
	return path.basename(argv[0] ?? '').startsWith('qemu-system') && argv.includes(pidFile);
}

/** The QEMUs of the lab's VMs that run now: every pid file in the run folder that names its live QEMU. */
export async function runningVmPids(runDir: string): Promise<number[]> {
	const names = await fs.readdir(runDir).catch(() => [] as string[]);
	const pids = await Promise.all(names.filter((name) => name.endsWith('.pid')).map((name) => livePid(path.join(runDir, name))));
	return pids.filter((pid): pid is number => pid !== null);
}

let sharing: Promise<void> = Promise.resolve();

/**
 * The running VMs share the CPU as one (priority.ts), after a VM started or stopped: one pass at
 * a time, each counting the VMs that run by then. Not awaited: the kernel takes an unprivileged
 * process's changes at 10 a second, and a start need not wait for that.
 */
function shareTheCpuNow(runDir: string): Promise<void> {
	sharing = sharing.then(async () => shareTheCpu(await runningVmPids(runDir))).catch(() => undefined);
	return sharing;
}

export type LaunchDisk =
	| { index: number; kind: 'backup'; backup: string; format: string; overlay: string }
	| { index: number; kind: 'production'; path: string; format: string };

export interface LaunchSpec {
	name: string;
	memoryMiB: number;
	/** Machine, firmware, buses, CPUs and MACs (hardware.ts). */
	hardware: LabHardware;
	accel: Accelerator;
	disks: LaunchDisk[];
	/**
	 * Each NIC on a user-mode network; `isolated` (a drill) restricts it to the VM itself;
	 * `segment` (a drill with TCP checks) puts each NIC on a tap of the VM's own network namespace (segment.ts).
	 */
	network: 'user' | 'isolated' | 'segment';
}

function blockdev(options: Record<string, unknown>): string[] {
	return ['-blockdev', JSON.stringify(options)];
}

/** UEFI: the firmware read-only, the VM's own variable store writable (it persists boot entries). */
function firmwareArgs(hardware: LabHardware): { machine: string[]; args: string[] } {
	const images = firmwareImages(hardware);
	if (!images) return { machine: [], args: [] };
	if (!hardware.firmwareVars) throw new LabError('LAUNCH_FAILED', 'a UEFI VM needs its own firmware variable store, and none is named');
	return {
		machine: ['pflash0=fw-code', 'pflash1=fw-vars', ...(hardware.secureBoot ? ['smm=on'] : [])],
		args: [
			...blockdev({ driver: 'file', filename: images.code, 'node-name': 'fw-code-file', 'read-only': true }),
			...blockdev({ driver: 'raw', file: 'fw-code-file', 'node-name': 'fw-code', 'read-only': true }),
			...blockdev({ driver: 'file', filename: hardware.firmwareVars, 'node-name': 'fw-vars-file' }),
			...blockdev({ driver: 'raw', file: 'fw-vars-file', 'node-name': 'fw-vars' }),
			// Secure Boot's variables are only safe from the guest OS when flash writes need SMM.
			...(hardware.secureBoot ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
		],
	};
}

/** The disk's device on its bus: IDE channel/unit, a virtio-scsi controller's target, or virtio-blk. */
function diskDevice(bus: DiskBus | undefined, root: string, index: number): string {
	const id = `drive=${root},id=${nodeNames(index).device}${index === 0 ? ',bootindex=0' : ''}`;
	switch (bus?.controller) {
		case 'ide':
			return `ide-hd,${id},bus=ide.${bus.controllerNumber},unit=${bus.location}`;
		case 'scsi':
			return `scsi-hd,${id},bus=scsi${bus.controllerNumber}.0,channel=0,scsi-id=${bus.location},lun=0`;
		default:
			return `virtio-blk-pci,${id}`;
	}
}

/** The command line; disks on the backup get the fixed four-node chain, production disks two nodes. */
export function launchArgs(spec: LaunchSpec, files: RuntimeFiles): string[] {
	const { hardware } = spec;
	const firmware = firmwareArgs(hardware);
	const args = [
		'-name', spec.name,
		'-machine', [hardware.machine, ...firmware.machine].join(','),
		'-accel', spec.accel,
		...(spec.accel === 'kvm' ? ['-cpu', 'qemu64,-pni'] : []),
		'-m', String(spec.memoryMiB),
		'-smp', String(hardware.cpus),
		'-nodefaults',
		'-display', 'none',
		...firmware.args,
		// ONE -serial: a second one would move the console to COM2.
		'-serial', `file:${files.serialFile}`,
		'-qmp', `unix:${files.qmpSocket},server=on,wait=off`,
		// The guest agent's port, as libvirt gives a domain: a guest that runs qemu-guest-agent answers on it.
		'-chardev', `socket,id=qga0,path=${files.qgaSocket},server=on,wait=off`,
		'-device', 'virtio-serial-pci,id=vserial0',
		'-device', 'virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0',
		'-pidfile', files.pidFile,
		'-daemonize',
	];
	hardware.macs.forEach((mac, index) => {
		if (spec.network === 'segment') args.push('-netdev', `tap,id=net${index},ifname=${tapName(index)},script=no,downscript=no`);
		// restrict=on: the guest reaches nothing outside the VM (no host, no outside network).
		else args.push('-netdev', `user,id=net${index}${spec.network === 'isolated' ? ',restrict=on' : ''}`);
		// Hyper-V's network adapter is synthetic (netvsc): QEMU's paravirtual NIC is its kind. No option ROM: a lab VM boots from its disk, never from the network.
		args.push('-device', `virtio-net-pci,netdev=net${index},id=nic${index},romfile=${mac ? `,mac=${qemuMac(mac)}` : ''}`);
	});
	if (hardware.macs.length === 0) args.push('-nic', 'none');
	const scsiControllers = [...new Set(hardware.disks.filter((disk) => disk.controller === 'scsi').map((disk) => disk.controllerNumber))].sort((a, b) => a - b);
	for (const number of scsiControllers) args.push('-device', `virtio-scsi-pci,id=scsi${number}`);
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
		args.push('-device', diskDevice(hardware.disks[disk.index], root, disk.index));
	}
	return args;
}

/** A UEFI VM's variable store starts as the firmware's template and is the VM's from then on. */
async function ensureFirmwareVars(hardware: LabHardware): Promise<void> {
	const images = firmwareImages(hardware);
	if (!images || !hardware.firmwareVars || (await exists(hardware.firmwareVars))) return;
	await mkdirPrivate(path.dirname(hardware.firmwareVars));
	const partial = `${hardware.firmwareVars}.partial-${process.pid}`;
	await fs.copyFile(images.vars, partial);
	await fs.chmod(partial, 0o600);
	await fs.rename(partial, hardware.firmwareVars);
}

/** Starts QEMU detached; -daemonize returns once QEMU has started (or failed to). */
export async function launch(runDir: string, spec: LaunchSpec): Promise<{ pid: number; files: RuntimeFiles }> {
	const files = runtimeFiles(runDir, spec.name);
	await prepareRunFolders(runDir, files);
	await fs.rm(files.qmpSocket, { force: true });
	await fs.rm(files.qgaSocket, { force: true });
	await fs.rm(files.pidFile, { force: true });
	await ensureFirmwareVars(spec.hardware);
	// QEMU opens -serial file: with the umask and keeps an existing file's mode: the log (what the guest prints, secrets too) is created 0600 first.
	await createPrivateFile(files.serialFile);
	const argv = [QEMU_SYSTEM, ...launchArgs(spec, files)];
	let command = { file: QEMU_SYSTEM, args: argv.slice(1) };
	if (spec.network === 'segment') {
		const namespace = labSegment(runDir, spec.name);
		await createSegment(namespace, spec.hardware.macs.length);
		command = inSegment(namespace, argv);
	}
	const result = await execa(command.file, command.args, { timeout: 60_000, reject: false, stdin: 'ignore' });
	if (result.failed) {
		const reason = (result.stderr || result.shortMessage || '').trim();
		throw new LabError('LAUNCH_FAILED', `Could not start VM ${spec.name}: ${reason}`);
	}
	const pid = await runningPid(files);
	if (pid === null) throw new LabError('LAUNCH_FAILED', `VM ${spec.name}: QEMU reported a start but ${files.pidFile} names no live QEMU process`);
	void shareTheCpuNow(runDir);
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
	void shareTheCpuNow(path.dirname(files.pidFile));
	return true;
}

async function cleanupRuntime(files: RuntimeFiles): Promise<void> {
	await fs.rm(files.pidFile, { force: true });
	await fs.rm(files.qmpSocket, { force: true });
	await fs.rm(files.qgaSocket, { force: true });
}
