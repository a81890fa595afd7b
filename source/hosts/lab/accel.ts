// Which accelerator runs lab guests: KVM where it really runs guest code, TCG otherwise.
// Detect, don't assume: some hosts expose /dev/kvm and QMP `query-kvm` says enabled, yet
// guests die with "KVM internal error … emulation failure" (status internal-error) or hang.
// So a probe guest boots under KVM with a short timeout and must print its marker.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import writeFileAtomic from 'write-file-atomic';
import { BOOT_SECTOR_MARKER, bootSectorImage } from './boot-sector.ts';
import { QEMU_SYSTEM, qemuVersion } from './qemu-img.ts';
import { QmpClient } from './qmp.ts';
import { type Accelerator, powerOff, runningPid, runtimeFiles } from './runtime.ts';
import { GUEST_MARKER } from './serial.ts';

export interface AcceleratorVerdict {
	accel: Accelerator;
	/** Why, in words a user can act on. */
	reason: string;
	source: 'env' | 'cache' | 'probe';
	/** What the KVM probe booted: the lab guest (conclusive) or the built-in boot sector. */
	probe: 'guest' | 'boot-sector' | null;
}

interface CachedVerdict {
	qemuVersion: string;
	kernel: string;
	probe: 'guest' | 'boot-sector' | null;
	accel: Accelerator;
	reason: string;
	checkedAt: string;
}

export interface DetectOptions {
	cacheDir: string;
	/** A raw bootable disk (the lab guest) that prints RUNDIRECT-GUEST-ALIVE on COM1. */
	probeImage?: string;
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
	const probe = options.probeImage ? 'guest' : 'boot-sector';
	const cacheFile = path.join(options.cacheDir, 'accel.json');
	const cached = await readCache(cacheFile);
	// A verdict from the boot sector is upgraded once the real guest is available to probe with.
	if (cached && cached.qemuVersion === version && cached.kernel === kernel && (cached.probe === probe || cached.probe === 'guest')) {
		return { accel: cached.accel, reason: cached.reason, source: 'cache', probe: cached.probe };
	}

	const timeoutMs = Math.min(options.timeoutMs ?? MAX_PROBE_MS, MAX_PROBE_MS);
	const result = await probeAccelerator('kvm', { image: options.probeImage, timeoutMs });
	const verdict: AcceleratorVerdict = result.ok
		? { accel: 'kvm', reason: `KVM ran the ${probe === 'guest' ? 'lab guest' : 'probe boot sector'} in ${result.ms} ms`, source: 'probe', probe }
		: { accel: 'tcg', reason: `KVM is present but cannot run guest code (${result.reason}): using TCG`, source: 'probe', probe };
	await fs.mkdir(options.cacheDir, { recursive: true });
	const record: CachedVerdict = { qemuVersion: version, kernel, probe, accel: verdict.accel, reason: verdict.reason, checkedAt: new Date().toISOString() };
	await writeFileAtomic(cacheFile, `${JSON.stringify(record, null, 2)}\n`);
	return verdict;
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
		// Never leave a probe behind, whatever happened above.
		if ((await runningPid(files)) !== null) await powerOff(files, qmp, 2_000).catch(() => undefined);
		await qmp?.close();
		await fs.rm(dir, { recursive: true, force: true });
	}
}
