// Concurrency on the real lab host: racing starts of one VM, a stale lock of a killed
// process, and two sessions of different VMs started and finalized side by side.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, type CliResult, type LabEnv } from '../support/lab-env.ts';
import { recordReliability } from '../support/reliability.ts';
import { readGuestFile } from '../../source/lab-builder/guest.ts';
import { pointText, POINT_FILE } from '../../source/lab-builder/destination.ts';
import { VmLocks } from '../../source/restore/lock.ts';
import { Journal } from '../../source/restore/journal.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

function sessionOf(result: CliResult): string {
	const result_ = result.events.find((event) => event.type === 'result');
	return String(result_?.session);
}

describe('concurrency', () => {
	it('two starts of the same VM at the same moment: exactly one wins, the other names the winner', async () => {
		const [first, second] = await Promise.all([lab.cli(['start', 'web01', '--yes', '--json']), lab.cli(['start', 'web01', '--yes', '--json'])]);
		const results = [first, second];
		const winners = results.filter((result) => result.exitCode === 0);
		const losers = results.filter((result) => result.exitCode !== 0);
		await recordReliability({ kind: 'concurrency', case: 'two simultaneous starts of one VM', survived: winners.length === 1 && losers.length === 1 });
		const outcome = results.map((result) => `exit ${result.exitCode}: ${result.stderr}`).join('\n---\n');
		expect(winners, outcome).toHaveLength(1);
		expect(losers, outcome).toHaveLength(1);
		const winner = sessionOf(winners[0] as CliResult);
		expect(losers[0]?.exitCode, losers[0]?.stderr).toBe(3);
		expect(losers[0]?.stderr).toContain(winner);
		const { sessions } = await new Journal(lab.paths.state).list();
		expect(sessions.filter((session) => session.vm === 'web01' && session.state !== 'stopped')).toHaveLength(1);
		const stop = await lab.cli(['stop', winner, '--yes']);
		expect(stop.exitCode, stop.stderr).toBe(0);
	});

	it('detects a lock left by a killed process as stale and says how to clear it', async () => {
		// A start killed between claiming the VM and writing its first journal entry.
		const child = spawn(process.execPath, ['-e', '0']);
		await new Promise((resolve) => child.once('exit', resolve));
		const locks = new VmLocks(lab.paths.state);
		await fs.mkdir(locks.dir, { recursive: true });
		await fs.writeFile(locks.claimFile('lab', 'db01'), JSON.stringify({ pid: child.pid, hostname: os.hostname(), startTime: null, session: '20261126T0000-dead00', host: 'lab', vm: 'db01', createdAt: '2026-11-26T00:00:00.000Z' }));

		const refused = await lab.cli(['start', 'db01', '--yes']);
		expect(refused.exitCode).toBe(3);
		expect(refused.stderr).toContain('20261126T0000-dead00');
		expect(refused.stderr).toMatch(/no journal entry/);
		expect(refused.stderr).toContain('rundirect unlock db01');

		const unlock = await lab.cli(['unlock', 'db01']);
		expect(unlock.exitCode, unlock.stderr).toBe(0);
		expect(unlock.stdout).toContain(`pid ${child.pid}`);
		const start = await lab.cli(['start', 'db01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		await recordReliability({ kind: 'concurrency', case: 'stale lock of a killed process', survived: true });
		const stop = await lab.cli(['stop', sessionOf(start), '--yes']);
		expect(stop.exitCode, stop.stderr).toBe(0);
	});

	it('runs and finalizes two sessions of different VMs in parallel', async () => {
		const starts = await Promise.all([lab.cli(['start', 'web01', '--yes', '--json']), lab.cli(['start', 'db01', '--yes', '--json'])]);
		for (const start of starts) expect(start.exitCode, start.stderr).toBe(0);
		const ids = starts.map(sessionOf);
		const finals = await Promise.all(ids.map((id) => lab.cli(['finalize', id, '--yes', '--json'])));
		for (const result of finals) expect(result.exitCode, result.stderr).toBe(0);
		const journal = new Journal(lab.paths.state);
		let intact = true;
		for (const id of ids) {
			const session = await journal.read(id);
			expect(session?.state).toBe('finalized');
			for (const disk of session?.plan.disks ?? []) {
				// execa strips the final newline of mtype's output.
				const text = (await readGuestFile(disk.production, 'qcow2', POINT_FILE))?.trimEnd();
				const expected = pointText(session?.source.vm ?? '', session?.source.pointId ?? '', disk.index).trimEnd();
				if (text !== expected) intact = false;
				expect(text).toBe(expected);
			}
		}
		await recordReliability({ kind: 'concurrency', case: 'two VMs started and finalized in parallel', survived: intact });
		for (const pid of await lab.qemuPids()) process.kill(pid, 'SIGKILL');
	});
});
