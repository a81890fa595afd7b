// Recovery drills end to end on the real lab host: the real CLI boots real QEMU guests (TCG)
// from the sample backups under drill names, waits for their serial marker, keeps the
// evidence, stops them, and leaves the lab exactly as it was.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, type LabEnv, REPO, resultOf, snapshotTree, waitFor } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { Journal } from '../../source/restore/journal.ts';
import { QEMU_IMG } from '../../source/qemu/qemu-img.ts';
import type { DrillReport, DrillVmReport } from '../../source/drill/index.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	for (const pid of await labQemuPids().catch(() => [])) process.kill(pid, 'SIGKILL');
	await lab?.cleanup();
});

/** Every live QEMU started for this lab, whatever its VM name (drill VMs have no definition left once stopped). */
async function labQemuPids(): Promise<number[]> {
	const pids: number[] = [];
	for (const entry of await fs.readdir('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
		if (cmdline.startsWith('qemu-system') || cmdline.includes('/qemu-system')) {
			if (cmdline.includes(lab.lab.run)) pids.push(Number(entry));
		}
	}
	return pids;
}

/** The lab host's VMs, production storage and run folder, byte for byte. */
async function labState(): Promise<Record<string, Record<string, string>>> {
	return {
		vms: await snapshotTree(lab.lab.vms),
		production: await snapshotTree(lab.lab.production),
		run: await snapshotTree(lab.lab.run),
		work: await snapshotTree(lab.lab.work),
	};
}

async function readReport(result: Record<string, unknown>): Promise<DrillReport> {
	return JSON.parse(await fs.readFile(String(result.report), 'utf8')) as DrillReport;
}

function vmOf(report: DrillReport, vm: string): DrillVmReport {
	const found = report.vms.find((candidate) => candidate.vm === vm);
	if (!found) throw new Error(`no ${vm} in drill ${report.id}`);
	return found;
}

const ms = (iso: string | null): number => Date.parse(iso ?? 'invalid');

/** Figures for the run log: what the drill measured. */
function logTimes(label: string, report: DrillReport): void {
	for (const vm of report.vms) console.log(`${label}: ${vm.vm} ${vm.outcome} — running after ${vm.timeToRunningMs} ms, proof of life after ${vm.timeToProofMs} ms`);
}

async function expectSessionsStopped(report: DrillReport): Promise<void> {
	const journal = new Journal(lab.paths.state);
	for (const vm of report.vms) {
		expect(vm.session).not.toBeNull();
		const session = await journal.read(vm.session ?? '');
		expect(session?.state).toBe('stopped');
		expect(session?.purpose).toBe('drill');
		expect(session?.drillId).toBe(report.id);
		expect(session?.vm).toBe(vm.drillName);
	}
}

describe('recovery drills on the lab host', () => {
	it('drills web01, db01 and files01: every guest shows proof of life, times are measured, the lab is left exactly as it was', async () => {
		const before = await labState();
		const destinationBefore = await snapshotTree(lab.lab.destination);
		const drill = await lab.cli(['drill', 'web01', 'db01', 'files01', '--concurrency', '2', '--timeout', '60', '--json']);
		expect(drill.exitCode, drill.stderr).toBe(0);
		const result = resultOf(drill.events);
		expect(result.outcome).toBe('passed');
		const report = await readReport(result);
		logTimes('lab drill', report);
		expect(report.vms.map((vm) => vm.vm)).toEqual(['web01', 'db01', 'files01']);
		for (const vm of report.vms) {
			expect(vm.outcome).toBe('passed');
			expect(vm.drillName).toBe(`${vm.vm}-drill-${report.id.slice(-6)}`);
			expect(vm.restorePoint?.id).toBeTruthy();
			expect(vm.host).toBe('lab');
			expect(vm.timeToRunningMs).toBeGreaterThan(0);
			expect(vm.timeToProofMs).toBeGreaterThan(vm.timeToRunningMs ?? Infinity);
			expect(vm.timeToProofMs).toBeLessThan(60_000);
			expect(vm.cleanup.state).toBe('stopped');
			expect(vm.evidence?.kind).toBe('serial-tail');
			const evidence = await fs.readFile(path.join(path.dirname(String(result.report)), vm.evidence?.file ?? 'missing'), 'utf8');
			expect(evidence).toContain(GUEST_MARKER);
		}
		const markdown = await fs.readFile(String(result.markdown), 'utf8');
		expect(markdown).toContain(`# Recovery drill ${report.id}: PASSED`);
		expect(markdown).toContain(GUEST_MARKER);
		for (const vm of report.vms) expect(markdown).toContain(`${((vm.timeToProofMs ?? 0) / 1000).toFixed(2)} s`);
		await expectSessionsStopped(report);

		expect(await labQemuPids()).toEqual([]);
		expect(await labState()).toEqual(before);
		expect(await snapshotTree(lab.lab.destination)).toEqual(destinationBefore);

		const history = await lab.cli(['drill', '--history', '--json']);
		expect(history.exitCode, history.stderr).toBe(0);
		const listed = (history.events.find((event) => event.type === 'drills') as { drills: Array<{ id: string; outcome: string }> }).drills;
		expect(listed).toContainEqual(expect.objectContaining({ id: report.id, outcome: 'passed' }));
		const text = await lab.cli(['drill', '--history']);
		expect(text.stdout).toMatch(new RegExp(`${report.id}.*passed`));
	});

	it('a restore point whose disk boots nothing fails within its timeout, with evidence, and is cleaned up', async () => {
		const destination = path.join(lab.root, 'blank-destination');
		const point = path.join(destination, 'blank01', 'p1');
		await fs.mkdir(point, { recursive: true });
		// A disk of zeros: the firmware finds no boot sector, so no guest will ever print its marker.
		await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', path.join(point, 'disk0.qcow2'), '64M']);
		await writeManifest(point, { disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: 64 * 2 ** 20 }] });
		const before = await labState();
		const began = performance.now();
		const drill = await lab.cli(['--destination', destination, 'drill', 'blank01', '--timeout', '10', '--json']);
		const took = performance.now() - began;
		expect(drill.exitCode, drill.stderr).toBe(1);
		const result = resultOf(drill.events);
		expect(result.outcome).toBe('failed');
		const report = await readReport(result);
		logTimes('unbootable drill', report);
		const vm = vmOf(report, 'blank01');
		expect(vm.outcome).toBe('failed');
		expect(vm.reason).toMatch(/no proof of life \(guest agent or serial marker\) within 10 s/);
		expect(vm.timeToRunningMs).toBeGreaterThan(0);
		expect(vm.timeToProofMs).toBeNull();
		// It waited its full timeout from the start, and not much longer.
		expect(ms(vm.endedAt) - ms(vm.startedAt)).toBeGreaterThanOrEqual(10_000);
		expect(took).toBeLessThan(30_000);
		expect(vm.evidence?.kind).toBe('serial-tail');
		await fs.access(path.join(path.dirname(String(result.report)), vm.evidence?.file ?? 'missing'));
		expect(vm.cleanup.state).toBe('stopped');
		expect(await fs.readFile(String(result.markdown), 'utf8')).toMatch(/FAILED/);
		await expectSessionsStopped(report);
		expect(await labQemuPids()).toEqual([]);
		expect(await labState()).toEqual(before);
		const history = await lab.cli(['drill', '--history', '--json']);
		const listed = (history.events.find((event) => event.type === 'drills') as { drills: Array<{ id: string; outcome: string }> }).drills;
		expect(listed).toContainEqual(expect.objectContaining({ id: report.id, outcome: 'failed' }));
	});

	it('a plan file orders the drill: concurrency 1 never overlaps two VMs; a VM with "after" starts only once its dependency showed proof of life', async () => {
		const serialPlan = path.join(lab.root, 'serial-plan.json');
		await fs.writeFile(serialPlan, JSON.stringify({ concurrency: 1, timeoutSeconds: 60, vms: [{ vm: 'web01' }, { vm: 'files01' }] }));
		const serial = await lab.cli(['drill', '--plan', serialPlan, '--json']);
		expect(serial.exitCode, serial.stderr).toBe(0);
		const one = await readReport(resultOf(serial.events));
		logTimes('concurrency 1', one);
		const [first, second] = one.vms;
		expect(first?.vm).toBe('web01');
		// In plan order, and the second starts only once the first is stopped.
		expect(ms(second?.startedAt ?? null)).toBeGreaterThanOrEqual(ms(first?.endedAt ?? null));
		expect(ms(first?.cleanup.at ?? null)).toBeLessThanOrEqual(ms(second?.startedAt ?? null));

		// The dependent is listed first: the order comes from "after", not from the list.
		const orderedPlan = path.join(lab.root, 'ordered-plan.json');
		await fs.writeFile(orderedPlan, JSON.stringify({ concurrency: 2, timeoutSeconds: 60, vms: [{ vm: 'web01', after: ['db01'] }, { vm: 'db01' }] }));
		const before = await labState();
		const ordered = await lab.cli(['drill', '--plan', orderedPlan, '--json']);
		expect(ordered.exitCode, ordered.stderr).toBe(0);
		const two = await readReport(resultOf(ordered.events));
		logTimes('after', two);
		const db01 = vmOf(two, 'db01');
		const web01 = vmOf(two, 'web01');
		expect(web01.after).toEqual(['db01']);
		expect(ms(web01.startedAt)).toBeGreaterThanOrEqual(ms(db01.aliveAt));
		// The dependency stays up until its dependent is done, then goes like every drill VM.
		expect(ms(db01.cleanup.at)).toBeGreaterThanOrEqual(ms(web01.aliveAt));
		for (const vm of two.vms) expect(vm.cleanup.state).toBe('stopped');
		expect(await labQemuPids()).toEqual([]);
		expect(await labState()).toEqual(before);
	});

	it('an invalid plan file gets a clear error naming the file and the field, and changes nothing', async () => {
		const before = await labState();
		const stateBefore = await snapshotTree(lab.paths.state);
		const cases: Array<[unknown, RegExp]> = [
			[{ vms: [] }, /field vms\): a drill needs at least one VM/],
			[{ vms: [{ vm: 'web01', after: ['dc01'] }] }, /field vms\.0\.after\.0\): dc01 is not a VM of this drill/],
			[{ vms: [{ vm: 'web01', after: ['db01'] }, { vm: 'db01', after: ['web01'] }] }, /cycle: (web01 → db01 → web01|db01 → web01 → db01)/],
			[{ concurrency: 0, vms: [{ vm: 'web01' }] }, /field concurrency\): must be at least 1/],
			[{ vms: [{ vm: 'web01', bogus: true }] }, /field vms\.0\)/],
			[{ vms: [{ vm: 'web01' }, { vm: 'web01' }] }, /web01 is listed twice/],
		];
		for (const [index, [plan, message]] of cases.entries()) {
			const file = path.join(lab.root, `bad-plan-${index}.json`);
			await fs.writeFile(file, JSON.stringify(plan));
			const run = await lab.cli(['drill', '--plan', file]);
			expect(run.exitCode, JSON.stringify(plan)).toBe(2);
			expect(run.stderr).toContain(file);
			expect(run.stderr).toMatch(message);
		}
		const notJson = path.join(lab.root, 'not-json.json');
		await fs.writeFile(notJson, '{ "vms": [');
		const broken = await lab.cli(['drill', '--plan', notJson]);
		expect(broken.exitCode).toBe(2);
		expect(broken.stderr).toMatch(/not valid JSON/);
		const unknown = await lab.cli(['drill', 'nosuchvm']);
		expect(unknown.exitCode).toBe(4);
		expect(await labState()).toEqual(before);
		expect(await snapshotTree(lab.paths.state)).toEqual(stateBefore);
	});

	it('a TCP check where no probe can tell the guest answered (a site recovery on the user-mode network) is refused in pre-flight, and nothing changes', async () => {
		const before = await labState();
		const file = path.join(lab.root, 'site-tcp.json');
		await fs.writeFile(file, JSON.stringify({ vms: [{ vm: 'web01', checks: [{ tcp: 80 }] }] }));
		const run = await lab.cli(['start', '--plan', file, '--yes']);
		expect(run.exitCode, run.stderr).toBe(3);
		expect(run.stderr).toMatch(/web01: on the lab host a site recovery's VMs run on QEMU's user-mode network, which accepts a connection itself before the guest answers.*so its TCP checks cannot run/s);
		expect(await labState()).toEqual(before);
	});

	it('an interrupted drill leaves ordinary sessions, marked as a drill, that "resume --rollback" cleans up', async () => {
		const before = await labState();
		const child = execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), 'drill', 'web01', '--timeout', '60', '--json'], { env: lab.env, reject: false, stdin: 'ignore' });
		let stdout = '';
		child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
		// Interrupt once the VM runs from its backup: its session exists and must be left for resume.
		await waitFor('the drill VM to run', 60_000, async () => (/"milestone":"running"/.test(stdout) ? true : undefined), 100);
		child.kill('SIGINT');
		const ended = await child;
		expect(ended.exitCode).toBe(130);
		expect(String(ended.stderr)).toMatch(/resume --rollback/);
		const result = resultOf(stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>));
		expect(result.outcome).toBe('interrupted');
		const report = await readReport(result);
		const vm = vmOf(report, 'web01');
		expect(vm.cleanup.state).toBe('pending');
		const session = await new Journal(lab.paths.state).read(vm.session ?? '');
		expect(session?.purpose).toBe('drill');
		expect(session?.state).toBe('running');
		expect(await labQemuPids()).toHaveLength(1);

		const dry = await lab.cli(['resume', '--dry-run', '--json']);
		const finding = (dry.events.find((event) => event.type === 'reconcile') as { sessions: Array<{ session: string; rollback: string | null; detail: string }> }).sessions.find((candidate) => candidate.session === vm.session);
		expect(finding?.rollback).toBe('stop');
		expect(finding?.detail).toMatch(/recovery drill .* resume --rollback/);

		const rollback = await lab.cli(['resume', '--rollback', '--yes', '--json']);
		expect(rollback.exitCode, rollback.stderr).toBe(0);
		expect((await new Journal(lab.paths.state).read(vm.session ?? ''))?.state).toBe('stopped');
		expect(await labQemuPids()).toEqual([]);
		expect(await labState()).toEqual(before);
		const history = await lab.cli(['drill', '--history', '--json']);
		const listed = (history.events.find((event) => event.type === 'drills') as { drills: Array<{ id: string; outcome: string }> }).drills;
		expect(listed).toContainEqual(expect.objectContaining({ id: report.id, outcome: 'interrupted' }));
	});
});
