// An isolated lab for one test file: its own XDG state and data folders (the download
// cache is shared so the guest image is built once), the real `rundirect` CLI run as a child
// process, and a cleanup that ends every QEMU the lab started, by pid.
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { labPaths, resolvePaths, type LabPaths, type Paths } from '../../source/core/paths.ts';
import { processCmdline, runningPid, runningVmPids, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { listDefinitions } from '../../source/hosts/lab/definition.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO, 'bin', 'rundirect.js');

/** Shared between test runs so Debian packages are downloaded and the guest built once. */
export const TEST_CACHE = process.env.RUNDIRECT_TEST_CACHE ?? path.join(os.tmpdir(), 'rundirect-test-cache');

export interface CliResult {
	exitCode: number | undefined;
	signal: string | undefined;
	stdout: string;
	stderr: string;
	/** The NDJSON records printed with --json. */
	events: Array<Record<string, unknown>>;
}

export interface LabEnv {
	root: string;
	env: Record<string, string>;
	paths: Paths;
	lab: LabPaths;
	cli(args: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
	/** Pids of every live QEMU of this lab (any VM name, including set-aside ones). */
	qemuPids(): Promise<number[]>;
	cleanup(): Promise<void>;
}

export async function createLabEnv(): Promise<LabEnv> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-e2e-'));
	const env = {
		XDG_STATE_HOME: path.join(root, 'state'),
		XDG_DATA_HOME: path.join(root, 'data'),
		XDG_CACHE_HOME: TEST_CACHE,
		RUNDIRECT_HOST: 'lab',
	};
	const paths = resolvePaths({ state: path.join(env.XDG_STATE_HOME, 'rundirect'), data: path.join(env.XDG_DATA_HOME, 'rundirect'), cache: path.join(TEST_CACHE, 'rundirect') });
	const lab = labPaths(paths);
	const started = new Set<number>();

	const qemuPids = async (): Promise<number[]> => {
		const names = new Set<string>();
		for (const { definition } of await listDefinitions(lab.vms)) names.add(definition.name);
		const pids: number[] = [];
		for (const name of names) {
			const pid = await runningPid(runtimeFiles(lab.run, name));
			if (pid !== null) {
				pids.push(pid);
				started.add(pid);
			}
		}
		return pids;
	};

	return {
		root,
		env,
		paths,
		lab,
		qemuPids,
		async cli(args, options = {}) {
			const result = await execa(process.execPath, [CLI, ...args], {
				env: { ...env, ...options.env },
				reject: false,
				timeout: options.timeoutMs ?? 240_000,
				stdin: 'ignore',
			});
			await qemuPids();
			const events: Array<Record<string, unknown>> = [];
			for (const line of String(result.stdout).split('\n')) {
				if (!line.startsWith('{')) continue;
				try {
					events.push(JSON.parse(line) as Record<string, unknown>);
				} catch {
					// not a JSON line
				}
			}
			return { exitCode: result.exitCode, signal: result.signal, stdout: String(result.stdout), stderr: String(result.stderr), events };
		},
		async cleanup() {
			await qemuPids().catch(() => []);
			for (const pid of started) {
				try {
					process.kill(pid, 'SIGKILL');
				} catch {
					// already gone
				}
			}
			await fs.rm(root, { recursive: true, force: true });
		},
	};
}

/** The `result` record of a command's --json output (a test fails naming what came instead). */
export function resultOf(events: Array<Record<string, unknown>>): Record<string, unknown> {
	const result = events.find((event) => event.type === 'result');
	if (!result) throw new Error(`no result event in ${JSON.stringify(events).slice(0, 2000)}`);
	return result;
}

/** A lab env with `rundirect lab init` done: the sample destination and lab VMs exist. */
export async function createInitializedLabEnv(): Promise<LabEnv> {
	const lab = await createLabEnv();
	const init = await lab.cli(['lab', 'init'], { timeoutMs: 600_000 });
	if (init.exitCode !== 0) {
		await lab.cleanup();
		throw new Error(`rundirect lab init failed (exit ${init.exitCode}): ${init.stderr}`);
	}
	return lab;
}

/** The sha256 of every disk of a VM's newest restore point, keyed by file, as `rundirect backups` lists them. */
export async function backupSums(lab: LabEnv, vm: string): Promise<Map<string, string>> {
	const listing = await lab.cli(['backups', '--json']);
	const backups = listing.events.find((event) => event.type === 'backups') as { points: Array<{ vm: string; dir: string; disks: Array<{ file: string }> }> };
	const point = backups.points.find((candidate) => candidate.vm === vm);
	if (!point) throw new Error(`no backup of ${vm}`);
	const sums = new Map<string, string>();
	for (const disk of point.disks) {
		const file = path.join(point.dir, disk.file);
		sums.set(file, await sha256(file));
	}
	return sums;
}

/**
 * Ends every QEMU a lab's run folder names in a pid file (VMs run detached: a finalized one keeps
 * running), checking the pid is still that QEMU so a reused pid is never hit.
 */
export async function killLabQemus(runDir: string): Promise<void> {
	for (const pid of await runningVmPids(runDir)) {
		try {
			process.kill(pid, 'SIGKILL');
		} catch {
			// already gone
		}
	}
}

export async function sha256(file: string): Promise<string> {
	const hash = createHash('sha256');
	for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
	return hash.digest('hex');
}

/**
 * Every entry under `dir` (a missing folder is empty), by path relative to `dir`, described
 * by `describe`; folders are walked into.
 */
export async function describeTree(dir: string, describe: (full: string, entry: Dirent) => Promise<string>): Promise<Record<string, string>> {
	const result: Record<string, string> = {};
	async function walk(current: string): Promise<void> {
		let entries;
		try {
			entries = await fs.readdir(current, { withFileTypes: true });
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
			throw error;
		}
		for (const entry of entries) {
			const full = path.join(current, entry.name);
			result[path.relative(dir, full)] = await describe(full, entry);
			if (entry.isDirectory()) await walk(full);
		}
	}
	await walk(dir);
	return result;
}

/** Every file under a folder with its sha256 (or 'dir' / 'link'), to prove nothing changed. */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
	return describeTree(dir, async (full, entry) => {
		if (entry.isDirectory()) return 'dir';
		if (entry.isSymbolicLink()) return `link:${await fs.readlink(full)}`;
		if (entry.isFile()) return sha256(full);
		return 'special'; // QMP sockets: present or not is what matters
	});
}

/** Polls until `probe` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 250): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let lastError: unknown;
	while (Date.now() < deadline) {
		try {
			const value = await probe();
			if (value !== undefined) return value;
		} catch (error) {
			lastError = error;
		}
		await new Promise((resolve) => setTimeout(resolve, intervalMs));
	}
	throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

/** Alive and not a zombie (a daemonized QEMU's parent may be slow to reap it). */
export async function processAlive(pid: number): Promise<boolean> {
	return (await processCmdline(pid)) !== null;
}
