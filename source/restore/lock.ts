// One session per VM per host. Two files guard it, both created atomically with their content
// (a written file hard-linked into place: the kernel's create-if-absent, like O_EXCL, which is
// the whole of the locking primitive we need):
//   <host>--<vm>.lock  the claim: which session holds the VM, for the session's whole life;
//   <host>--<vm>.op    the operation: which process is driving that session right now.
// The claim outlives processes (a VM running from backup has no controller between start and
// finalize); the operation file does not. An operation file of a dead process is stale: it is
// detected by pid (and process start time), reported, and only then taken over.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, RundirectError } from '../core/errors.ts';
import { readTextIfExists } from '../core/files.ts';
import { mkdirPrivate, PRIVATE_FILE } from '../core/private-files.ts';

export interface ProcessRef {
	pid: number;
	hostname: string;
	/** Kernel start time of the process (Linux), to tell a reused pid from the original. */
	startTime: string | null;
}

export interface ClaimInfo extends ProcessRef {
	session: string;
	host: string;
	vm: string;
	createdAt: string;
}

export interface OperationInfo extends ProcessRef {
	session: string;
	operation: string;
	startedAt: string;
}

export class SessionBusyError extends RundirectError {
	override name = 'SessionBusyError';
	constructor(readonly holder: OperationInfo) {
		super(
			`session ${holder.session} is being driven by another process (pid ${holder.pid} on ${holder.hostname}, ${holder.operation} since ${holder.startedAt})`,
			EXIT.refused,
			`wait for it to finish; if that process is gone (it ran on ${holder.hostname}), clear its lock with "rundirect unlock <vm>"`,
		);
	}
}

/**
 * The fields of /proc/<pid>/stat after the parenthesised command name (which may hold spaces):
 * [0] is the state letter (R, S, D, Z…), [19] the start time. Null where there is no such process or no /proc.
 */
function procStat(pid: number): string[] | null {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	} catch {
		return null;
	}
}

export function currentProcess(): ProcessRef {
	return { pid: process.pid, hostname: os.hostname(), startTime: procStat(process.pid)?.[19] ?? null };
}

/** True, false, or null when it cannot be known from here (another machine). */
export function processAlive(ref: ProcessRef): boolean | null {
	if (ref.hostname !== os.hostname()) return null;
	try {
		process.kill(ref.pid, 0);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
	}
	// An exited process nobody has reaped yet (its parent died, and PID 1 of a container or a VM
	// agent does not reap orphans) still answers kill(pid, 0): it drives nothing.
	const fields = procStat(ref.pid);
	if (fields?.[0] === 'Z') return false;
	const startTime = fields?.[19] ?? null;
	return ref.startTime === null || startTime === null || startTime === ref.startTime;
}

/**
 * Creates `file` holding `content`, or returns false when it exists. The content is written to
 * a private file first and hard-linked into place (link fails if the name exists, like
 * O_EXCL), so a contender that loses the race and reads the file at once always finds its
 * holder in it: created empty and then written, it was seen empty and called damaged.
 */
async function createExclusive(file: string, content: unknown): Promise<boolean> {
	await mkdirPrivate(path.dirname(file));
	const text = `${JSON.stringify(content, null, 2)}\n`;
	const pending = `${file}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
	try {
		await fs.writeFile(pending, text, { flag: 'wx', mode: PRIVATE_FILE });
		await fs.chmod(pending, PRIVATE_FILE);
		const handle = await fs.open(pending, 'r');
		try {
			await handle.sync();
		} finally {
			await handle.close();
		}
		try {
			await fs.link(pending, file);
			return true;
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code === 'EEXIST') return false;
			// A filesystem without hard links: create-then-write, readers wait out the gap.
			if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') return await createThenWrite(file, text);
			throw error;
		}
	} finally {
		await fs.rm(pending, { force: true });
		await pruneLeftovers(file);
	}
}

/** A private file lives for milliseconds; one older than this was left by a crash. */
const LEFTOVER_AGE_MS = 10 * 60_000;

async function pruneLeftovers(file: string): Promise<void> {
	const prefix = `${path.basename(file)}.new-`;
	const names = await fs.readdir(path.dirname(file)).catch(() => [] as string[]);
	for (const name of names.filter((candidate) => candidate.startsWith(prefix))) {
		const leftover = path.join(path.dirname(file), name);
		const stat = await fs.stat(leftover).catch(() => null);
		if (stat && Date.now() - stat.mtimeMs > LEFTOVER_AGE_MS) await fs.rm(leftover, { force: true });
	}
}

async function createThenWrite(file: string, text: string): Promise<boolean> {
	let handle;
	try {
		handle = await fs.open(file, 'wx', PRIVATE_FILE);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
		throw error;
	}
	try {
		await handle.chmod(PRIVATE_FILE);
		await handle.writeFile(text);
		await handle.sync();
	} finally {
		await handle.close();
	}
	return true;
}

async function readJson<T>(file: string): Promise<T | null> {
	// An empty file may be one being created on a filesystem without hard links: look again
	// for a moment before calling it damaged.
	for (let attempt = 0; ; attempt++) {
		const text = await readTextIfExists(file);
		if (text === null) return null;
		if (text === '' && attempt < EMPTY_LOCK_RETRIES) {
			await sleep(EMPTY_LOCK_WAIT_MS);
			continue;
		}
		try {
			return JSON.parse(text) as T;
		} catch {
			// A lock file torn by a crash between create and write is still a lock: keep it visible.
			throw new Error(`lock file ${file} is damaged; inspect it and remove it by hand if no rundirect process is running`);
		}
	}
}

const EMPTY_LOCK_RETRIES = 20;
const EMPTY_LOCK_WAIT_MS = 50;

export interface Operation {
	/** Set when a dead process's operation was taken over, so the caller can report it. */
	tookOverFrom: OperationInfo | null;
	release(): Promise<void>;
}

export class VmLocks {
	readonly dir: string;

	constructor(stateDir: string) {
		this.dir = path.join(stateDir, 'locks');
	}

	private stem(host: string, vm: string): string {
		// Host ids contain "://" and names may differ only in case on some filesystems: hash them.
		const digest = createHash('sha256').update(`${host}\0${vm}`).digest('hex').slice(0, 16);
		return path.join(this.dir, `${vm.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-${digest}`);
	}

	claimFile(host: string, vm: string): string {
		return `${this.stem(host, vm)}.lock`;
	}

	operationFile(host: string, vm: string): string {
		return `${this.stem(host, vm)}.op`;
	}

	async readClaim(host: string, vm: string): Promise<ClaimInfo | null> {
		return readJson<ClaimInfo>(this.claimFile(host, vm));
	}

	async readOperation(host: string, vm: string): Promise<OperationInfo | null> {
		return readJson<OperationInfo>(this.operationFile(host, vm));
	}

	/** Claims the VM for a session; false when another session already holds it. */
	async claim(host: string, vm: string, session: string): Promise<boolean> {
		const info: ClaimInfo = { ...currentProcess(), session, host, vm, createdAt: new Date().toISOString() };
		return createExclusive(this.claimFile(host, vm), info);
	}

	async releaseClaim(host: string, vm: string, session: string): Promise<void> {
		const claim = await this.readClaim(host, vm);
		if (claim && claim.session === session) await fs.rm(this.claimFile(host, vm), { force: true });
	}

	/** Removes a claim by hand (`rundirect unlock`). Refused while a live process drives it. */
	async forceRelease(host: string, vm: string): Promise<ClaimInfo | null> {
		const operation = await this.readOperation(host, vm);
		if (operation && processAlive(operation) !== false) throw new SessionBusyError(operation);
		const claim = await this.readClaim(host, vm);
		await fs.rm(this.operationFile(host, vm), { force: true });
		await fs.rm(this.claimFile(host, vm), { force: true });
		return claim;
	}

	/**
	 * Marks this process as the one driving `session` on the VM. A live holder refuses it;
	 * a dead holder's file is renamed away atomically (only one contender can win the rename)
	 * and returned so the caller reports the takeover.
	 */
	async beginOperation(host: string, vm: string, session: string, operation: string): Promise<Operation> {
		const file = this.operationFile(host, vm);
		let tookOverFrom: OperationInfo | null = null;
		for (let attempt = 0; attempt < 5; attempt++) {
			const info: OperationInfo = { ...currentProcess(), session, operation, startedAt: new Date().toISOString() };
			if (await createExclusive(file, info)) {
				return {
					tookOverFrom,
					release: async () => {
						const current = await readJson<OperationInfo>(file).catch(() => null);
						if (current && current.pid === info.pid && current.hostname === info.hostname) await fs.rm(file, { force: true });
					},
				};
			}
			const holder = await readJson<OperationInfo>(file);
			if (!holder) continue;
			if (processAlive(holder) !== false) throw new SessionBusyError(holder);
			const aside = `${file}.stale-${process.pid}-${Date.now()}`;
			try {
				await fs.rename(file, aside);
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
				throw error;
			}
			const moved = await readJson<OperationInfo>(aside);
			if (moved && (moved.pid !== holder.pid || moved.startedAt !== holder.startedAt)) {
				// Another contender replaced the stale file between our read and our rename: put its live file back.
				await fs.link(aside, file).catch(() => undefined);
				await fs.rm(aside, { force: true });
				throw new SessionBusyError(moved);
			}
			tookOverFrom = holder;
			await fs.rm(aside, { force: true });
		}
		throw new Error(`could not take the operation lock ${file}: other processes keep contending for it`);
	}
}
