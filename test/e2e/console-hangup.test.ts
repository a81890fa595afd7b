// An SSH disconnect in the middle of finalize, for real: the console (in tmux, on the lab host)
// starts a restore and a rate-limited finalize by keyboard; while step 5 copies, the terminal
// goes away (tmux kill-server: the pane's process gets SIGHUP, as sshd's hang-up does). The
// console must be gone while QEMU and its copy job carry on; a console opened again offers to
// resume, continues by a key press, and the session ends finalized with production = backup +
// every write the guest made, the backup unchanged.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, REPO, processAlive, sha256, waitFor, type LabEnv, backupSums } from '../support/lab-env.ts';
import { openTerminal, type Terminal } from '../support/tmux.ts';
import { recordReliability } from '../support/reliability.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';
import { Journal } from '../../source/restore/journal.ts';
import type { SessionRecord } from '../../source/restore/session.ts';

let lab: LabEnv;
const terminals: Terminal[] = [];

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	for (const terminal of terminals) await terminal.kill();
	await lab?.cleanup();
});

async function openConsole(): Promise<Terminal> {
	const terminal = await openTerminal({ command: [process.execPath, '--max-semi-space-size=2', path.join(REPO, 'bin', 'rundirect.js')], cwd: REPO, env: lab.env, columns: 100, rows: 30 });
	terminals.push(terminal);
	return terminal;
}

async function openSession(vm: string): Promise<SessionRecord | undefined> {
	const { sessions } = await new Journal(lab.paths.state).list();
	return sessions.find((session) => session.vm === vm && session.state !== 'stopped');
}

async function copyJob(id: string): Promise<{ vm: string; job: { kind: string; status: string; done: number; total: number } | null } | undefined> {
	const listing = await lab.cli(['sessions', '--json']);
	const sessions = (listing.events.find((event) => event.type === 'sessions') as { sessions: Array<{ id: string; status: { vm: string; job: { kind: string; status: string; done: number; total: number } | null } | null }> } | undefined)?.sessions;
	const status = sessions?.find((candidate) => candidate.id === id)?.status;
	return status ? { vm: status.vm, job: status.job } : undefined;
}

const ticks = (log: string): string[] => log.split('\n').filter((line) => line.startsWith('tick '));

describe('the console hung up (SIGHUP) in the middle of finalize', () => {
	it('leaves QEMU copying; reopened, it offers to resume, and resuming ends finalized with nothing lost', async () => {
		const before = await backupSums(lab, 'web01');
		const t = await openConsole();
		await t.waitFor('the backups', (screen) => screen.includes('▶ Backups') && screen.includes('web01'), 20_000);
		await new Promise((resolve) => setTimeout(resolve, 300));

		// Start web01 (third row) from its newest restore point, by keyboard.
		await t.keys('Home');
		await t.type('jj');
		await t.keys('Enter');
		await t.waitFor("web01's restore points", (screen) => /›▾ web01/.test(screen));
		await t.keys('Down', 'Enter');
		await t.waitFor('the start form', (screen) => screen.includes('Restore web01 from'));
		await t.keys('Enter');
		await t.waitFor('the confirmation', (screen) => screen.includes('Start Run Direct of web01?'), 20_000);
		await t.type('y');
		await t.waitFor('web01 running from backup', (screen) => /web01\s+running\s+4 start the VM ✔/.test(screen), 30_000);
		const session = await waitFor('the session in the journal', 10_000, () => openSession('web01'));
		const overlay = session.plan.disks[0]?.overlay ?? '';
		await waitFor('three guest ticks in the snapshot layer', 90_000, async () => ((ticks(await readGuestLog(overlay, 'qcow2')).length >= 3 ? true : undefined)), 1000);

		// Finalize at 10 MiB/s: step 5 takes seconds.
		await t.keys('f');
		await t.waitFor('the finalize confirmation', (screen) => screen.includes('Finalize web01?') && screen.includes('◉ unlimited'));
		await t.keys('Right');
		await t.waitFor('the rate limit chosen', (screen) => screen.includes('◉ 10 MiB/s'));
		await t.type('y');
		await t.waitFor('step 5 under way', (screen) => screen.includes('❯ 5. Copy the data') && /\b([1-9]\d?)% /.test(screen), 30_000);
		const consolePid = await t.panePid();
		expect(await processAlive(consolePid)).toBe(true);
		const [qemu] = await lab.qemuPids();
		expect(qemu).toBeDefined();

		// The SSH session drops: the terminal goes away and the console gets SIGHUP.
		await t.kill();
		await waitFor('the console process to end', 15_000, async () => ((await processAlive(consolePid)) ? undefined : true), 100);

		// QEMU and its copy job go on without the console.
		expect(await processAlive(qemu ?? 0)).toBe(true);
		const first = await waitFor('the copy job', 10_000, async () => {
			const status = await copyJob(session.id);
			return status?.job?.kind === 'copy' ? status : undefined;
		});
		expect(first.vm).toBe('running');
		expect(first.job?.status).toBe('running');
		const later = await waitFor('the copy to advance', 15_000, async () => {
			const status = await copyJob(session.id);
			return status?.job && (status.job.done > (first.job?.done ?? 0) || status.job.status !== 'running') ? status : undefined;
		}, 500);
		expect(later.vm).toBe('running');
		const interrupted = await new Journal(lab.paths.state).read(session.id);
		expect(interrupted?.state).toBe('finalizing');
		expect(interrupted?.steps.find((step) => step.id === 'copy-data')?.status).toBe('running');
		// Writes the guest made up to now, still on the snapshot layer.
		const written = ticks(await readGuestLog(overlay, 'qcow2'));

		// Reopened, the console offers to resume; nothing happens before a key.
		const again = await openConsole();
		const offer = await again.waitFor('the resume offer', (screen) => screen.includes('Interrupted sessions (1)'), 30_000);
		expect(offer).toContain('finalize was interrupted (in step 5, copy data)');
		expect(offer).toContain('c continue');
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect((await new Journal(lab.paths.state).read(session.id))?.state).toBe('finalizing');
		await again.type('c');
		const done = await again.waitFor('web01 finalized', (screen) => /web01\s+finalized/.test(screen) && screen.includes('✔ 7. Delete the snapshot layer'), 90_000);
		expect(done).not.toContain('Interrupted sessions');
		const finished = await new Journal(lab.paths.state).read(session.id);
		expect(finished?.state).toBe('finalized');
		expect(finished?.steps.filter((step) => step.number !== null).every((step) => step.status === 'done')).toBe(true);

		// Production holds the backup plus every write the guest made; the backup never changed.
		await again.keys('q');
		await again.waitFor('the console to exit', (screen) => !screen.includes('▶ '), 10_000);
		for (const pid of await lab.qemuPids()) process.kill(pid, 'SIGKILL');
		await waitFor('QEMU to exit', 10_000, async () => ((await lab.qemuPids()).length === 0 ? true : undefined));
		const production = await readGuestLog(finished?.plan.disks[0]?.production ?? '', 'qcow2');
		const lost = written.filter((line) => !production.includes(line));
		const bytesLost = lost.reduce((sum, line) => sum + line.length + 1, 0);
		let backupChanged = false;
		for (const [file, sum] of before) if ((await sha256(file)) !== sum) backupChanged = true;
		await recordReliability({ kind: 'fault', case: 'console SIGHUP mid-finalize (SSH disconnect)', ending: 'finalize', controllersKilled: 1, qemuKilled: 0, survived: bytesLost === 0 && !backupChanged, bytesLost, backupChanged });
		expect(written.length).toBeGreaterThanOrEqual(3);
		expect(lost).toEqual([]);
		expect(backupChanged).toBe(false);
	}, 300_000);
});
