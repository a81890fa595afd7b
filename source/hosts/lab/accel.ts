// Which accelerator runs lab guests: KVM where it really runs guest code, TCG otherwise.
// Detect, don't assume: some hosts expose /dev/kvm and QMP `query-kvm` says enabled, yet
// guests die with "KVM internal error … emulation failure" (status internal-error) or hang.
// So a probe guest boots under KVM with a short timeout and must print its marker.
import { constants as fsConstants, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import writeFileAtomic from 'write-file-atomic';
import { BOOT_SECTOR_MARKER, bootSectorImage } from '../../qemu/boot-sector.ts';
import { QEMU_SYSTEM, qemuVersion } from '../../qemu/qemu-img.ts';
import { QmpClient } from './qmp.ts';
import { type Accelerator, isQemuOf, powerOff, runningPid, runtimeFiles } from './runtime.ts';
import { GUEST_MARKER } from '../../qemu/lab-guest.ts';

export interface AcceleratorVerdict {
	accel: Accelerator;
	/** Why, in words a user can act on. */
	reason: string;
	source: 'env' | 'cache' | 'probe';
	/**
	 * What decided: the lab guest's real kernel (conclusive), a session's VM that died under KVM
	 * and ran under TCG (conclusive), or only the built-in boot sector (provisional: step 4
	 * still falls back to TCG when a VM dies under KVM).
	 */
	probe: ProbeKind | null;
}

export type ProbeKind = 'guest' | 'vm' | 'boot-sector';

interface CachedVerdict {
	qemuVersion: string;
	kernel: string;
	probe: ProbeKind | null;
	accel: Accelerator;
	reason: string;
	checkedAt: string;
}

export interface DetectOptions {
	cacheDir: string;
	/** A raw bootable disk (the lab guest) that prints RUNDIRECT-GUEST-ALIVE on COM1. */
	probeImage?: string;
	/**
	 * Finds or builds the lab guest when no probeImage is given (a destination without `lab
	 * init`): a boot sector alone does not prove that a real kernel runs. Null or a failure
	 * leaves the boot sector to decide, provisionally.
	 */
	probeGuest?: () => Promise<string | null>;
	/** At most 8 s: the probe must never hold up the console for long. */
	timeoutMs?: number;
}

const MAX_PROBE_MS = 8_000;

export async function detectAccelerator(options: DetectOptions): Promise<AcceleratorVerdict> {
	const forced = process.env.RUNDIRECT_ACCEL;
	if (forced === 'kvm' || forced === 'tcg') return { accel: forced, reason: `RUNDIRECT_ACCEL=${forced}`, source: 'env', probe: null };

	try {
		const kvm = await fs.open('/dev/kvm', fsConstants.O_RDWR);
		await kvm.close();
	} catch (error) {
		return { accel: 'tcg', reason: `/dev/kvm cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'}): using TCG`, source: 'probe', probe: null };
	}

	const version = await qemuVersion();
	const kernel = os.release();
	const cacheFile = path.join(options.cacheDir, 'accel.json');
	const cached = await readCache(cacheFile);
	const current = cached && cached.qemuVersion === version && cached.kernel === kernel ? cached : null;
	if (current && (current.probe === 'guest' || current.probe === 'vm')) return { accel: current.accel, reason: current.reason, source: 'cache', probe: current.probe };

	// A verdict from the boot sector is upgraded as soon as a real guest can be had to probe with.
	const image = options.probeImage ?? (await options.probeGuest?.().catch(() => null)) ?? undefined;
	const probe: ProbeKind = image ? 'guest' : 'boot-sector';
	if (current && current.probe === probe) return { accel: current.accel, reason: current.reason, source: 'cache', probe: current.probe };

	const timeoutMs = Math.min(options.timeoutMs ?? MAX_PROBE_MS, MAX_PROBE_MS);
	const result = await probeAccelerator('kvm', { image, timeoutMs });
	const verdict: AcceleratorVerdict = result.ok
		? { accel: 'kvm', reason: `KVM ran the ${probe === 'guest' ? 'lab guest' : 'probe boot sector'} in ${result.ms} ms`, source: 'probe', probe }
		: { accel: 'tcg', reason: `KVM is present but cannot run guest code (${result.reason}): using TCG`, source: 'probe', probe };
	await writeCache(options.cacheDir, { qemuVersion: version, kernel, probe, accel: verdict.accel, reason: verdict.reason, checkedAt: new Date().toISOString() });
	return verdict;
}

/**
 * A session's VM died under KVM and ran under TCG: that is a real guest's verdict, so it is
 * remembered (until QEMU or the host kernel changes) and no VM is started under KVM again.
 */
export async function rememberKvmFailure(cacheDir: string, reason: string): Promise<AcceleratorVerdict> {
	const verdict: AcceleratorVerdict = { accel: 'tcg', reason: `KVM is present but cannot run guest code (${reason}): using TCG`, source: 'probe', probe: 'vm' };
	await writeCache(cacheDir, { qemuVersion: await qemuVersion(), kernel: os.release(), probe: 'vm', accel: 'tcg', reason: verdict.reason, checkedAt: new Date().toISOString() });
	return verdict;
}

async function writeCache(cacheDir: string, record: CachedVerdict): Promise<void> {
	await fs.mkdir(cacheDir, { recursive: true });
	await writeFileAtomic(path.join(cacheDir, 'accel.json'), `${JSON.stringify(record, null, 2)}\n`);
}

async function readCache(file: string): Promise<CachedVerdict | null> {
	try {
		const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<CachedVerdict>;
		if ((parsed.accel === 'kvm' || parsed.accel === 'tcg') && typeof parsed.qemuVersion === 'string' && typeof parsed.kernel === 'string') return parsed as CachedVerdict;
	} catch {
		// Missing or damaged: probe again.
	}
	return null;
}

export interface ProbeResult {
	ok: boolean;
	reason: string;
	ms: number;
}

/**
 * Boots `image` (raw, opened read-only) or the built-in boot sector under `accel` and waits
 * for its marker on COM1. Always bounded by `timeoutMs`; the probe QEMU is always killed.
 */
export async function probeAccelerator(accel: Accelerator, options: { image?: string; timeoutMs: number }): Promise<ProbeResult> {
	const started = Date.now();
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-probe-'));
	const files = runtimeFiles(dir, 'probe');
	let qmp: QmpClient | null = null;
	// A second Ctrl+C (or kill) ends the process at once (core/interrupts.ts), without the finally
	// below: the probe QEMU is daemonized and would run on.
	const endProbeOnExit = () => killProbeNow(files.pidFile, dir);
	process.once('exit', endProbeOnExit);
	try {
		let image = options.image;
		const marker = image ? GUEST_MARKER : BOOT_SECTOR_MARKER;
		if (!image) {
			image = path.join(dir, 'probe.img');
			await fs.writeFile(image, bootSectorImage());
		}
		const args = [
			'-machine', 'q35',
			'-accel', accel,
			...(accel === 'kvm' ? ['-cpu', 'qemu64,-pni'] : []),
			'-m', '256', '-smp', '1', '-nodefaults', '-display', 'none', '-nic', 'none',
			'-serial', `file:${files.serialFile}`,
			'-qmp', `unix:${files.qmpSocket},server=on,wait=off`,
			'-pidfile', files.pidFile,
			'-daemonize',
			'-blockdev', JSON.stringify({ driver: 'file', filename: image, 'node-name': 'probe-file', 'read-only': true }),
			'-blockdev', JSON.stringify({ driver: 'raw', file: 'probe-file', 'node-name': 'probe', 'read-only': true }),
			'-device', 'virtio-blk-pci,drive=probe,bootindex=0',
		];
		const launched = await execa(QEMU_SYSTEM, args, { timeout: options.timeoutMs, reject: false, stdin: 'ignore' });
		if (launched.failed) return { ok: false, reason: `QEMU did not start under ${accel}: ${(launched.stderr || launched.shortMessage || '').trim()}`, ms: Date.now() - started };
		const deadline = started + options.timeoutMs;
		qmp = await QmpClient.connect(files.qmpSocket, { timeoutMs: Math.max(500, deadline - Date.now()) });
		while (Date.now() < deadline) {
			const serial = await fs.readFile(files.serialFile, 'latin1').catch(() => '');
			if (serial.includes(marker)) return { ok: true, reason: 'marker seen', ms: Date.now() - started };
			const status = await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: 1_000 });
			if (status.status === 'internal-error') return { ok: false, reason: `the probe guest stopped with status internal-error`, ms: Date.now() - started };
			if (status.status === 'guest-panicked' || status.status === 'shutdown') return { ok: false, reason: `the probe guest ended with status ${status.status}`, ms: Date.now() - started };
			await sleep(100);
		}
		return { ok: false, reason: `no ${marker} on the serial console within ${options.timeoutMs} ms`, ms: Date.now() - started };
	} catch (error) {
		return { ok: false, reason: (error as Error).message, ms: Date.now() - started };
	} finally {
		process.off('exit', endProbeOnExit);
		// Never leave a probe behind, whatever happened above.
		if ((await runningPid(files)) !== null) await powerOff(files, qmp, 2_000).catch(() => undefined);
		await qmp?.close();
		await fs.rm(dir, { recursive: true, force: true });
	}
}

/** At process exit (synchronous, nothing can be awaited): SIGKILL the probe QEMU its pid file names, remove its folder. */
function killProbeNow(pidFile: string, dir: string): void {
	try {
		const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
		const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
		if (pid > 0 && isQemuOf(argv, pidFile)) process.kill(pid, 'SIGKILL');
	} catch {
		// Not started yet, or already gone.
	}
	rmSync(dir, { recursive: true, force: true });
}
