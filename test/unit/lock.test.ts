import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionBusyError, VmLocks, processAlive } from '../../source/restore/lock.ts';

let state: string;

beforeEach(async () => {
	state = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-lock-'));
});
afterEach(async () => {
	await fs.rm(state, { recursive: true, force: true });
});

/** A process that has exited, so its pid is dead (until reused; the start time tells). */
async function deadPid(): Promise<number> {
	const child = spawn(process.execPath, ['-e', '0']);
	await new Promise((resolve) => child.once('exit', resolve));
	return child.pid ?? 0;
}

describe('VM locks', () => {
	it('lets exactly one session claim a VM', async () => {
		const locks = new VmLocks(state);
		const results = await Promise.all([locks.claim('lab', 'web01', 'a'), locks.claim('lab', 'web01', 'b'), locks.claim('lab', 'web01', 'c')]);
		expect(results.filter(Boolean)).toHaveLength(1);
		expect(await locks.claim('lab', 'db01', 'd')).toBe(true);
		await locks.releaseClaim('lab', 'web01', 'not-the-holder');
		expect(await locks.readClaim('lab', 'web01')).not.toBeNull();
	});

	it('never shows a claim file before its holder is written in it', async () => {
		// A racing start that loses reads the claim at once to name the winner. Another process
		// claims while this one reads the claim file as fast as it can: it must go from absent to
		// complete. (Created empty and then written, it was seen empty here over a hundred times a
		// round, and a losing start called the lock damaged.)
		const lockModule = new URL('../../source/restore/lock.ts', import.meta.url).href;
		for (let round = 0; round < 5; round++) {
			const vm = `vm${round}`;
			const file = new VmLocks(state).claimFile('lab', vm);
			const script = `const { VmLocks } = await import(${JSON.stringify(lockModule)}); await new VmLocks(${JSON.stringify(state)}).claim('lab', ${JSON.stringify(vm)}, 'winner');`;
			const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
			const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
			let ended = false;
			void exited.then(() => {
				ended = true;
			});
			const seen: string[] = [];
			const deadline = Date.now() + 20_000;
			try {
				while (!ended && Date.now() < deadline) {
					try {
						seen.push(readFileSync(file, 'utf8'));
					} catch {
						// not there yet
					}
					await new Promise((resolve) => setImmediate(resolve));
				}
			} finally {
				if (!ended && child.pid) process.kill(child.pid, 'SIGKILL');
			}
			expect(await exited).toBe(0);
			expect(seen.filter((text) => text === '')).toEqual([]);
			expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ session: 'winner', vm });
			// Nothing of the claim's making is left beside it.
			expect((await fs.readdir(path.dirname(file))).filter((name) => name.startsWith(path.basename(file)))).toEqual([path.basename(file)]);
		}
	}, 60_000);

	it('clears what a claim that crashed half-way left beside the lock, and only that', async () => {
		const locks = new VmLocks(state);
		await fs.mkdir(locks.dir, { recursive: true });
		const file = locks.claimFile('lab', 'web01');
		const crashed = `${file}.new-4242-deadbeef`;
		const inFlight = `${file}.new-4243-cafef00d`;
		await fs.writeFile(crashed, '{}');
		await fs.writeFile(inFlight, '{}');
		const hourAgo = new Date(Date.now() - 60 * 60_000);
		await fs.utimes(crashed, hourAgo, hourAgo);
		expect(await locks.claim('lab', 'web01', 's1')).toBe(true);
		expect((await fs.readdir(locks.dir)).sort()).toEqual([path.basename(file), path.basename(inFlight)].sort());
	});

	it('reports a torn or empty claim file as damaged, after waiting out a claim being written', async () => {
		const locks = new VmLocks(state);
		await fs.mkdir(locks.dir, { recursive: true });
		await fs.writeFile(locks.claimFile('lab', 'web01'), '{ "pid": 12');
		await expect(locks.readClaim('lab', 'web01')).rejects.toThrow(/lock file .* is damaged; inspect it and remove it by hand/);
		await fs.writeFile(locks.claimFile('lab', 'db01'), '');
		const began = Date.now();
		await expect(locks.readClaim('lab', 'db01')).rejects.toThrow(/is damaged/);
		expect(Date.now() - began).toBeGreaterThanOrEqual(500);
		// Filled in while it waits (a filesystem without hard links), it is read.
		await fs.writeFile(locks.claimFile('lab', 'files01'), '');
		const reading = locks.readClaim('lab', 'files01');
		await new Promise((resolve) => setTimeout(resolve, 200));
		await fs.writeFile(locks.claimFile('lab', 'files01'), JSON.stringify({ session: 's9', vm: 'files01' }));
		expect(await reading).toMatchObject({ session: 's9' });
	});

	it('refuses an operation while a live process drives the session', async () => {
		const locks = new VmLocks(state);
		const operation = await locks.beginOperation('lab', 'web01', 's1', 'finalize');
		await expect(locks.beginOperation('lab', 'web01', 's1', 'stop')).rejects.toThrow(SessionBusyError);
		await operation.release();
		const again = await locks.beginOperation('lab', 'web01', 's1', 'stop');
		expect(again.tookOverFrom).toBeNull();
		await again.release();
	});

	it('detects the operation file of a dead process as stale and reports the takeover', async () => {
		const locks = new VmLocks(state);
		const pid = await deadPid();
		const stale = { pid, hostname: os.hostname(), startTime: null, session: 's1', operation: 'finalize', startedAt: '2026-11-26T00:00:00.000Z' };
		expect(processAlive(stale)).toBe(false);
		await fs.mkdir(locks.dir, { recursive: true });
		await fs.writeFile(locks.operationFile('lab', 'web01'), JSON.stringify(stale));
		const operation = await locks.beginOperation('lab', 'web01', 's1', 'finalize');
		expect(operation.tookOverFrom).toMatchObject({ pid, operation: 'finalize' });
		await operation.release();
		await expect(fs.access(locks.operationFile('lab', 'web01'))).rejects.toThrow();
	});

	it('counts an exited process nobody reaped (a zombie) as dead', async () => {
		// sh starts a child that exits at once, then becomes `sleep`, which never reaps it.
		const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5']);
		try {
			const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (data: Buffer) => resolve(Number.parseInt(String(data), 10))));
			for (let wait = 0; wait < 100 && !(await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).includes(') Z '); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
			expect(() => process.kill(pid, 0)).not.toThrow();
			expect(processAlive({ pid, hostname: os.hostname(), startTime: null })).toBe(false);
			expect(processAlive({ pid: process.pid, hostname: os.hostname(), startTime: null })).toBe(true);
		} finally {
			parent.kill('SIGKILL');
		}
	});

	it('refuses to clear a lock by hand while its process lives', async () => {
		const locks = new VmLocks(state);
		await locks.claim('lab', 'web01', 's1');
		const operation = await locks.beginOperation('lab', 'web01', 's1', 'start');
		await expect(locks.forceRelease('lab', 'web01')).rejects.toThrow(/being driven by another process/);
		await operation.release();
		expect(await locks.forceRelease('lab', 'web01')).toMatchObject({ session: 's1' });
		expect(await locks.readClaim('lab', 'web01')).toBeNull();
	});
});
