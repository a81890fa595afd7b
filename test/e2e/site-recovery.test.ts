// Site recovery from a plan file on the real lab host (real CLI, real QEMU under TCG): `start
// --plan` Run Direct-starts every VM of the plan under its own name in the plan's order, a VM
// starting only once those it comes `after` are ready; an interrupted run, run again, goes on
// where it stopped; `finalize --plan` moves them all to production storage, a few at once,
// every copy under one shared rate limit.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../source/drill/index.ts';
import { Journal } from '../../source/restore/journal.ts';
import { startMode } from '../../source/commands/start-words.ts';
import { createInitializedLabEnv, REPO, resultOf, waitFor, type LabEnv } from '../support/lab-env.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

async function reportOf(events: Array<Record<string, unknown>>): Promise<DrillReport> {
	return JSON.parse(await fs.readFile(String(resultOf(events).report), 'utf8')) as DrillReport;
}

function at(time: string | null | undefined): number {
	if (!time) throw new Error('a milestone has no time');
	return Date.parse(time);
}

async function sessionsByVm(): Promise<Map<string, { id: string; state: string }>> {
	const { sessions } = await new Journal(lab.paths.state).list();
	return new Map(sessions.filter((session) => session.state !== 'stopped' && session.state !== 'finalized').map((session) => [session.vm, { id: session.id, state: session.state }]));
}

const PLAN = { concurrency: 2, timeoutSeconds: 120, vms: [{ vm: 'files01' }, { vm: 'db01', after: ['files01'] }, { vm: 'web01', after: ['db01'] }] };

describe('site recovery from a plan file (lab host)', () => {
	it('start --plan brings every VM up in order behind its gate, under its own name; finalize --plan moves them all to production under one rate limit', async () => {
		const plan = path.join(lab.root, 'site.json');
		await fs.writeFile(plan, JSON.stringify(PLAN));
		// Off a terminal, replacing three VMs needs --yes.
		const refused = await lab.cli(['start', '--plan', plan, '--json']);
		expect(refused.exitCode).toBe(3);
		expect(refused.stdout).toMatch(/will be turned off/);

		const start = await lab.cli(['start', '--plan', plan, '--yes', '--json'], { timeoutMs: 600_000 });
		expect(start.exitCode, start.stderr).toBe(0);
		const report = await reportOf(start.events);
		expect(report.kind).toBe('recovery');
		const [files01, db01, web01] = PLAN.vms.map(({ vm }) => report.vms.find((entry) => entry.vm === vm));
		for (const vm of [files01, db01, web01]) {
			expect(vm?.outcome).toBe('passed');
			// Its own name, left running from its backup.
			expect(vm?.drillName).toBe(vm?.vm);
			expect(vm?.cleanup.state).toBe('kept');
		}
		// The gates, as the report's timestamps show them.
		expect(at(db01?.startedAt)).toBeGreaterThanOrEqual(at(files01?.readyAt));
		expect(at(web01?.startedAt)).toBeGreaterThanOrEqual(at(db01?.readyAt));
		const running = await sessionsByVm();
		expect([...running.entries()].map(([vm, session]) => [vm, session.state]).sort()).toEqual([['db01', 'running'], ['files01', 'running'], ['web01', 'running']]);

		const finalize = await lab.cli(['finalize', '--plan', plan, '--concurrency', '2', '--rate-limit', '64', '--yes', '--json'], { timeoutMs: 600_000 });
		expect(finalize.exitCode, finalize.stderr).toBe(0);
		expect(resultOf(finalize.events)).toMatchObject({ ok: true, failed: [] });
		expect((resultOf(finalize.events).finalized as string[]).sort()).toEqual(['db01', 'files01', 'web01']);
		const { sessions } = await new Journal(lab.paths.state).list();
		for (const vm of ['files01', 'db01', 'web01']) expect(sessions.find((session) => session.vm === vm && session.id === running.get(vm)?.id)?.state).toBe('finalized');
		// Run again: nothing left to do, and it says so.
		const again = await lab.cli(['finalize', '--plan', plan, '--yes', '--json']);
		expect(again.exitCode, again.stderr).toBe(0);
		expect(resultOf(again.events)).toMatchObject({ alreadyFinalized: ['files01', 'db01', 'web01'] });
	}, 900_000);

	it('an interrupted start --plan, run again, goes on where it stopped: what ran is not started again', async () => {
		const plan = path.join(lab.root, 'site-resume.json');
		await fs.writeFile(plan, JSON.stringify({ ...PLAN, concurrency: 1 }));
		const child = execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), 'start', '--plan', plan, '--yes', '--json'], { env: lab.env, reject: false, stdin: 'ignore' });
		// Killed once the first VM runs from its backup, before the plan is through.
		const first = await waitFor('files01 running from its backup', 300_000, async () => (await sessionsByVm()).get('files01')?.state === 'running' ? (await sessionsByVm()).get('files01') : undefined, 200);
		child.kill('SIGKILL');
		await child;
		await lab.qemuPids();
		const rerun = await lab.cli(['start', '--plan', plan, '--yes', '--json'], { timeoutMs: 600_000 });
		expect(rerun.exitCode, rerun.stderr).toBe(0);
		expect(rerun.events.find((event) => event.type === 'site-continue')).toMatchObject({ running: [{ vm: 'files01', session: first.id, state: 'running' }] });
		const report = await reportOf(rerun.events);
		expect(report.vms.map((vm) => vm.outcome)).toEqual(['passed', 'passed', 'passed']);
		expect(report.vms[0]?.session).toBe(first.id);
		const now = await sessionsByVm();
		expect(now.get('files01')?.id).toBe(first.id);
		expect([...now.values()].map((session) => session.state)).toEqual(['running', 'running', 'running']);
		const stop = await Promise.all([...now.values()].map((session) => lab.cli(['stop', session.id, '--yes', '--json'])));
		expect(stop.map((result) => result.exitCode)).toEqual([0, 0, 0]);
	}, 900_000);

	it('one word for one thing: --plan takes a plan file; the runbook is --runbook, the old spelling accepted with a notice', async () => {
		expect(startMode('web01', { plan: true })).toMatchObject({ kind: 'runbook', vm: 'web01', notices: [expect.stringMatching(/now "start <vm> --runbook"/)] });
		expect(startMode('web01', { plan: true, planOut: 'web01.ps1' })).toMatchObject({ kind: 'runbook', out: 'web01.ps1', notices: [expect.any(String), expect.stringMatching(/--runbook-out/)] });
		expect(startMode('web01', { runbook: true, runbookOut: 'x.sh' })).toEqual({ kind: 'runbook', vm: 'web01', out: 'x.sh', notices: [] });
		expect(startMode(undefined, { plan: 'site.json' })).toEqual({ kind: 'site', file: 'site.json' });
		expect(() => startMode('web01', { plan: 'site.json' })).toThrow(/a VM or --plan <file>/);
		expect(() => startMode(undefined, {})).toThrow(/name the VM to start, or give a plan file/);
		// Through the CLI: the old spelling still reaches the runbook (which the lab host does not offer), saying the new words.
		const old = await lab.cli(['start', 'web01', '--plan']);
		expect(old.stderr).toMatch(/notice: "start <vm> --plan" is now "start <vm> --runbook"/);
		expect(old.stderr).toMatch(/cannot show its commands before running them/);
	}, 120_000);
});
