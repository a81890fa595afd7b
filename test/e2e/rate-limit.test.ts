// Step 5 under a rate limit on the real lab host: the cap counts the backup's data, not the
// zeros of its virtual size, and the progress moves smoothly at about the cap. db01's two
// disks hold ~15 MiB of data in 96 MiB of virtual size: at 4 MiB/s the copy takes ~4 s (it
// took 24 s when QEMU's speed counted the zeros), and no progress step jumps past a quarter.
// A second `rundirect finalize` pauses, resumes and re-caps a copy another process drives.
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, REPO, waitFor, type LabEnv } from '../support/lab-env.ts';
import { Journal } from '../../source/restore/journal.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

const MiB = 2 ** 20;

describe('a rate-limited copy on the lab host', () => {
	it('caps the data copied, not the virtual size, with smooth progress', async () => {
		expect((await lab.cli(['start', 'db01', '--yes', '--json'], { timeoutMs: 60_000 })).exitCode).toBe(0);
		const finalize = await lab.cli(['finalize', 'db01', '--yes', '--rate-limit', '4', '--json'], { timeoutMs: 120_000 });
		expect(finalize.exitCode).toBe(0);
		const progress = finalize.events.filter((event) => event.type === 'progress' && event.step === 'copy-data') as Array<{ done: number; total: number; rate: number | null }>;
		const step = finalize.events.find((event) => event.type === 'step' && event.step === 'copy-data' && event.status === 'done') as { durationMs: number } | undefined;
		const total = progress.at(-1)?.total ?? 0;
		// The total is the data, well below the 96 MiB of virtual size.
		expect(total).toBeGreaterThan(8 * MiB);
		expect(total).toBeLessThan(40 * MiB);
		const expected = total / (4 * MiB);
		const seconds = (step?.durationMs ?? 0) / 1000;
		expect(seconds).toBeGreaterThan(expected * 0.6);
		expect(seconds).toBeLessThan(expected * 2 + 1);
		let previous = 0;
		for (const { done } of progress) {
			expect(done).toBeGreaterThanOrEqual(previous);
			expect(done - previous).toBeLessThanOrEqual(total / 4);
			previous = done;
		}
		const rates = progress.map((event) => event.rate).filter((rate): rate is number => rate !== null).slice(3);
		const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)] ?? 0;
		expect(median / MiB).toBeGreaterThan(2.5);
		expect(median / MiB).toBeLessThan(6);
	}, 180_000);
});

describe('a running copy changed from another process', () => {
	it('is paused, resumed and re-capped by "rundirect finalize <vm> --pause | --resume --rate-limit N"', async () => {
		expect((await lab.cli(['start', 'web01', '--yes', '--json'], { timeoutMs: 60_000 })).exitCode).toBe(0);
		const journal = new Journal(lab.paths.state);
		const copied = async (): Promise<number> => (await journal.list()).sessions.find((session) => session.vm === 'web01' && session.state === 'finalizing')?.steps.find((step) => step.id === 'copy-data')?.bytesDone ?? 0;
		const driver = execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), 'finalize', 'web01', '--yes', '--rate-limit', '1', '--json'], { env: lab.env, reject: false });
		try {
			for (let wait = 0; wait < 100 && (await copied()) < 1 * MiB; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
			const paused = await lab.cli(['finalize', 'web01', '--pause', '--json']);
			expect(paused.exitCode).toBe(0);
			expect(paused.events.find((event) => event.type === 'copy-control')).toMatchObject({ paused: true, rateLimit: 1 * MiB });
			await new Promise((resolve) => setTimeout(resolve, 1500));
			const held = await copied();
			await new Promise((resolve) => setTimeout(resolve, 2000));
			expect(await copied()).toBe(held);
			const began = Date.now();
			expect((await lab.cli(['finalize', 'web01', '--resume', '--rate-limit', '50'])).exitCode).toBe(0);
			const result = await driver;
			expect(result.exitCode).toBe(0);
			// The ~13 MiB left at 1 MiB/s would take 13 s; at 50 MiB/s, well under.
			expect(Date.now() - began).toBeLessThan(8_000);
		} finally {
			driver.kill('SIGKILL');
		}
	}, 120_000);
});

describe('a finalize given up before step 6', () => {
	it('"rundirect finalize <vm> --cancel" stops its copy; the VM runs on from its backup, nothing lost, and a later finalize completes', async () => {
		const start = await lab.cli(['start', 'files01', '--yes', '--json'], { timeoutMs: 60_000 });
		expect(start.exitCode, start.stderr).toBe(0);
		const journal = new Journal(lab.paths.state);
		const session = async () => (await journal.list()).sessions.find((candidate) => candidate.vm === 'files01' && candidate.state !== 'stopped' && candidate.state !== 'finalized');
		const copied = async (): Promise<number> => (await session())?.steps.find((step) => step.id === 'copy-data')?.bytesDone ?? 0;
		const driver = execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), 'finalize', 'files01', '--yes', '--rate-limit', '1', '--json'], { env: lab.env, reject: false });
		try {
			for (let wait = 0; wait < 150 && (await copied()) < 1 * MiB; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
			expect(await copied()).toBeGreaterThanOrEqual(1 * MiB);
			const overlay = (await session())?.plan.disks[0]?.overlay ?? '';
			const cancel = await lab.cli(['finalize', 'files01', '--cancel', '--json']);
			expect(cancel.exitCode, cancel.stderr).toBe(0);
			expect(cancel.events.find((event) => event.type === 'result')).toMatchObject({ state: 'running', cancelled: 'finalize' });
			// The process that drove it ends, saying why (not as a failure of the session).
			const given = await driver;
			expect(given.exitCode).toBe(130);
			expect(given.stderr).toContain('was cancelled before step 6');
			// Not a failure: no step of it is reported failed.
			const steps = String(given.stdout).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; status?: string });
			expect(steps.filter((event) => event.type === 'step' && event.status === 'failed')).toEqual([]);
			const running = await session();
			expect(running?.state).toBe('running');
			expect(running?.steps.find((step) => step.id === 'copy-data')?.status).toBe('pending');
			// The VM did not stop: it still runs from its snapshot layer, and keeps writing there.
			const listed = await lab.cli(['sessions', '--json']);
			const row = (listed.events.find((event) => event.type === 'sessions') as { sessions: Array<{ id: string; vm: string; status: { vm: string; runsOn: string } | null }> } | undefined)?.sessions.find((candidate) => candidate.id === running?.id);
			expect(row?.status).toMatchObject({ vm: 'running', runsOn: 'backup' });
			const before = await waitFor('three guest ticks in the snapshot layer', 60_000, async () => {
				const ticks = (await readGuestLog(overlay, 'qcow2')).split('\n').filter((line) => line.startsWith('tick '));
				return ticks.length >= 3 ? ticks : undefined;
			}, 1000);

			const finalize = await lab.cli(['finalize', 'files01', '--yes', '--json'], { timeoutMs: 120_000 });
			expect(finalize.exitCode, finalize.stderr).toBe(0);
			const done = await journal.read(running?.id ?? '');
			expect(done?.state).toBe('finalized');
			expect((await lab.cli(['lab', 'poweroff', 'files01'])).exitCode).toBe(0);
			const after = await readGuestLog(done?.plan.disks[0]?.production ?? '', 'qcow2');
			for (const tick of before) expect(after).toContain(tick);
		} finally {
			driver.kill('SIGKILL');
		}
	}, 180_000);
});
