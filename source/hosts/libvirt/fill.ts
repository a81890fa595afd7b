// Step 5: fills a production image from its read-only backup while the guest runs on the
// overlay (QEMU does not hold the production image yet, so this is an ordinary qemu-img
// convert; libvirt has no job that copies one file into another). The convert runs detached,
// its progress and exit code going to files in the session's work folder, so — like a QEMU
// block job — it goes on when the controller dies and the next controller adopts it. The
// running process is found by its command line (the host's truth), not by a pid file that a
// crash could leave unwritten.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DiskPlacement } from '../host.ts';
import { QEMU_IMG } from '../../qemu/qemu-img.ts';

export interface FillFiles {
	/** qemu-img's -p output. */
	log: string;
	/** Its exit code, written (atomically) when it ends. */
	rc: string;
	/** Written once the image is complete and durable: step 5 is done for this disk. */
	done: string;
}

export function fillFiles(workDir: string, index: number): FillFiles {
	const base = path.join(workDir, `disk${index}`);
	return { log: `${base}.fill.log`, rc: `${base}.fill.rc`, done: `${base}.copied` };
}

/** The wrapper shell's $0, by which a fill's shell is told from any other. */
const FILL_WRAPPER = 'rundirect-fill';
/** How long a started fill may take to exec its qemu-img (a loaded machine forks slowly). */
const FILL_START_MS = 10_000;

/**
 * The copy, in QEMU's own words. `-n --target-is-zero` fills step 2's empty image without
 * writing its zeros; `-t writeback` makes qemu-img flush when it closes the image (its default
 * cache mode, unsafe, never flushes); `-r` is the rate limit in bytes per second.
 */
export function fillCommand(disk: Pick<DiskPlacement, 'backup' | 'format' | 'production'>, rateLimit?: number): string[] {
	const rate = rateLimit && rateLimit > 0 ? ['-r', String(Math.round(rateLimit))] : [];
	return [QEMU_IMG, 'convert', '-p', '-t', 'writeback', '-f', disk.format, '-O', 'qcow2', '-n', '--target-is-zero', ...rate, disk.backup, disk.production];
}

async function argvOf(pid: string): Promise<string[] | null> {
	const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
	if (raw === null || raw === '') return null;
	const parts = raw.split('\0');
	if (parts[parts.length - 1] === '') parts.pop();
	return parts;
}

/** Pids of the qemu-img converts writing `production` right now (`wrappers`: the shells around them too). */
export async function fillProcesses(production: string, options: { wrappers?: boolean } = {}): Promise<number[]> {
	const pids: number[] = [];
	for (const entry of await fs.readdir('/proc').catch(() => [] as string[])) {
		if (!/^\d+$/.test(entry)) continue;
		const argv = await argvOf(entry);
		if (!argv || argv[argv.length - 1] !== production) continue;
		const convert = path.basename(argv[0] ?? '') === QEMU_IMG && argv[1] === 'convert';
		const wrapper = options.wrappers === true && argv[3] === FILL_WRAPPER;
		if (convert || wrapper) pids.push(Number(entry));
	}
	return pids;
}

/** Ends every convert writing `production` (a step 5 being redone, or a stop), and waits for it. */
export async function endFills(production: string): Promise<void> {
	// The wrapper shell first: one whose convert has not started yet must not start it afterwards.
	for (const pid of await fillProcesses(production, { wrappers: true })) {
		try {
			process.kill(pid, 'SIGKILL');
		} catch {
			// already gone
		}
	}
	for (let i = 0; i < 200 && (await fillProcesses(production, { wrappers: true })).length > 0; i++) await sleep(25);
}

export async function startFill(disk: DiskPlacement, files: FillFiles, rateLimit?: number): Promise<void> {
	await fs.rm(files.rc, { force: true });
	await fs.rm(files.log, { force: true });
	const script = 'umask 077; log=$1; rc=$2; shift 2; "$@" >"$log" 2>&1; echo $? >"$rc.tmp" && mv "$rc.tmp" "$rc"';
	const child = spawn('sh', ['-c', script, FILL_WRAPPER, files.log, files.rc, ...fillCommand(disk, rateLimit)], { detached: true, stdio: 'ignore' });
	await new Promise<void>((resolve, reject) => {
		child.once('spawn', resolve);
		child.once('error', reject);
	});
	child.unref();
	// Started means the convert runs (or already ended): until then a controller that dies would
	// leave a shell that nobody sees copying, and a poll would find no copy at all.
	for (let waited = 0; waited < FILL_START_MS; waited += 25) {
		if ((await fillProcesses(disk.production)).length > 0 || (await fs.access(files.rc).then(() => true, () => false))) return;
		await sleep(25);
	}
}

/** The fraction done, from the last progress line qemu-img printed. */
export async function fillFraction(files: FillFiles): Promise<number> {
	const log = await fs.readFile(files.log, 'latin1').catch(() => '');
	const matches = [...log.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
	const last = matches[matches.length - 1]?.[1];
	return last === undefined ? 0 : Math.min(Number(last) / 100, 1);
}

export type FillOutcome = { ok: true } | { ok: false; reason: string } | { ok: 'gone' };

/**
 * Waits until the convert of `disk` ends. `gone` = no convert runs and none left an exit code
 * (a crash of the host or of the convert itself): the image is in an unknown state.
 */
export async function waitFill(
	disk: DiskPlacement,
	files: FillFiles,
	options: { onFraction?: (fraction: number) => void; signal?: AbortSignal; intervalMs?: number },
): Promise<FillOutcome> {
	// The exit code is looked for often (the step ends as soon as the copy does); the progress less
	// often, and whether a convert still runs (a scan of /proc) about once a second.
	const interval = options.intervalMs ?? 50;
	const progressEvery = Math.max(1, Math.round(250 / interval));
	const processesEvery = Math.max(1, Math.round(1000 / interval));
	let missingSince: number | null = null;
	for (let tick = 0; ; tick++) {
		options.signal?.throwIfAborted();
		const rc = await fs.readFile(files.rc, 'utf8').catch(() => null);
		if (rc !== null) {
			options.onFraction?.(await fillFraction(files));
			if (rc.trim() === '0') return { ok: true };
			const log = (await fs.readFile(files.log, 'latin1').catch(() => '')).replace(/\s*\(\d+(?:\.\d+)?\/100%\)\s*/g, ' ').trim();
			return { ok: false, reason: `qemu-img convert exited with ${rc.trim()}${log ? `: ${log.slice(-500)}` : ''}` };
		}
		if (tick % progressEvery === 0) options.onFraction?.(await fillFraction(files));
		if (tick % processesEvery === 0 || missingSince !== null) {
			if ((await fillProcesses(disk.production)).length === 0) {
				// The wrapper writes the exit code right after qemu-img ends: give it a moment.
				missingSince ??= Date.now();
				if (Date.now() - missingSince > 2_000) return { ok: 'gone' };
			} else {
				missingSince = null;
			}
		}
		await sleep(interval, undefined, options.signal ? { signal: options.signal } : undefined).catch(() => options.signal?.throwIfAborted());
	}
}

/** fsync of the image and its folder: step 5 is journaled done only once the copy is durable. */
export async function makeDurable(file: string): Promise<void> {
	for (const target of [file, path.dirname(file)]) {
		const handle = await fs.open(target, 'r');
		try {
			await handle.sync();
		} finally {
			await handle.close();
		}
	}
}
