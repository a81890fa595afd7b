// Faults on the libvirt host, through the real engine in a controller process of its own
// (support/controller.ts): the controller SIGKILLed at every step boundary and in the middle of
// steps 5 and 6, QEMU killed in the middle of step 5, libvirtd restarted in the middle of steps
// 5 and 6, and two racing starts. After each, running the same command again (or nothing, where
// the session carries on by itself) must end the session exactly: production holds the guest's
// writes made while running from backup, and the backup did not change in any way.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { fillProcesses } from '../../source/hosts/libvirt/fill.ts';
import { parseDisks } from '../../source/hosts/libvirt/domain-xml.ts';
import type { LibvirtHost } from '../../source/hosts/libvirt/driver.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';
import { Journal } from '../../source/restore/journal.ts';
import type { SessionRecord } from '../../source/restore/session.ts';
import { waitFor } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { defineDomain, fingerprint, guestBackup, libvirtTestFile } from './support/fixtures.ts';

const CONTROLLER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'controller.ts');
const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;
let host: LibvirtHost;
let destination: string;

beforeAll(() => {
	if (unavailable) return;
	host = libvirt.env.host;
	destination = path.join(libvirt.env.root, 'dest');
}, 180_000);

interface Run {
	exitCode: number | undefined;
	signal: string | undefined;
	stderr: string;
	events: Array<Record<string, unknown>>;
}

function parse(result: { exitCode?: number; signal?: string; stdout: unknown; stderr: unknown }): Run {
	const events = String(result.stdout)
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line) as Record<string, unknown>);
	return { exitCode: result.exitCode, signal: result.signal, stderr: String(result.stderr), events };
}

function controller(args: string[], options: { fault?: string; rate?: number } = {}) {
	return execa(process.execPath, ['--import', 'tsx', CONTROLLER, ...args], {
		reject: false,
		timeout: 300_000,
		stdin: 'ignore',
		env: {
			RD_LV_URI: libvirt.daemon.uri,
			RD_LV_ROOT: libvirt.env.root,
			RD_LV_DESTINATION: destination,
			...(options.fault ? { RUNDIRECT_FAULT: options.fault } : {}),
			...(options.rate ? { RD_LV_RATE: String(options.rate) } : {}),
		},
	});
}

async function run(args: string[], options: { fault?: string; rate?: number } = {}): Promise<Run> {
	return parse(await controller(args, options));
}

function sessionOf(result: Run): string {
	const event = result.events.find((candidate) => candidate.type === 'session' || candidate.type === 'resume');
	if (!event) throw new Error(`no session in ${JSON.stringify(result)}`);
	return String(event.session);
}

async function journal(id: string): Promise<SessionRecord> {
	const record = await new Journal(host.options.paths.state).read(id);
	if (!record) throw new Error(`no journal entry ${id}`);
	return record;
}

/** A restore point of the lab guest for `vm`, and a plain domain of that name to replace. */
async function restorePoint(vm: string): Promise<{ backup: string; before: Record<string, unknown> }> {
	const dir = path.join(destination, vm, 'p1');
	const backup = await guestBackup(dir);
	await writeManifest(dir, { vm: { memoryMiB: 256 }, disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: backup.virtualSize }] });
	await defineDomain(host, path.join(libvirt.env.root, 'old', vm), vm);
	return { backup: backup.file, before: await fingerprint(backup.file) };
}

async function guestTicks(session: SessionRecord): Promise<string[]> {
	const overlay = session.plan.disks[0]?.overlay ?? '';
	await waitFor('the guest marker', 90_000, async () => ((await host.status(session.plan)).guestAlive ? true : undefined), 500);
	return waitFor('three guest ticks in the overlay', 60_000, async () => {
		const ticks = (await readGuestLog(overlay, 'qcow2')).split('\n').filter((line) => line.startsWith('tick '));
		return ticks.length >= 3 ? ticks : undefined;
	}, 1000);
}

/** The end state of a finalized session: production only, the ticks kept, the backup untouched. */
async function expectFinalized(id: string, ticks: string[], backup: string, before: Record<string, unknown>): Promise<void> {
	const session = await journal(id);
	expect(session.state).toBe('finalized');
	const production = session.plan.disks[0]?.production ?? '';
	for (const scope of [[], ['--inactive']]) {
		const xml = await host.virsh.run(['dumpxml', session.vm, ...scope]);
		expect(parseDisks(xml).map((disk) => [disk.source, disk.hasBacking])).toEqual([[production, false]]);
	}
	expect(await host.domains.names()).not.toContain(`${session.vm}~${id}`);
	await host.virsh.run(['destroy', session.vm]);
	const log = await readGuestLog(production, 'qcow2');
	for (const tick of ticks) expect(log).toContain(tick);
	expect(await fingerprint(backup)).toEqual(before);
	await host.domains.undefine(session.vm);
}

async function qemuPid(vm: string): Promise<number> {
	const pid = Number.parseInt(await fs.readFile(path.join(libvirt.daemon.root, 'run', 'libvirt', 'qemu', `${vm}.pid`), 'utf8'), 10);
	const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
	if (!cmdline.includes('qemu-system')) throw new Error(`pid ${pid} is not ${vm}'s QEMU`);
	return pid;
}

describe.skipIf(unavailable !== null)('faults on the libvirt host', () => {
	it('a controller killed at every step boundary and in the middle of steps 5 and 6 is continued by the same command', async () => {
		const { backup, before } = await restorePoint('fault01');
		let id = '';
		for (const fault of ['kill-after:replace-vm', 'kill-after:create-disks', 'kill-after:snapshot-layer', 'kill-after:start-vm']) {
			const killed = await run(['start', 'fault01'], { fault });
			expect(killed.signal, `${fault}: ${killed.stderr}`).toBe('SIGKILL');
			if (id) expect(sessionOf(killed)).toBe(id);
			id = sessionOf(killed);
		}
		const started = await run(['start', 'fault01']);
		expect(started.exitCode, started.stderr).toBe(0);
		expect((await journal(id)).state).toBe('running');
		const ticks = await guestTicks(await journal(id));

		// Slow enough that the kill lands while qemu-img still copies.
		const rate = 8 * 2 ** 20;
		for (const fault of ['kill-during:copy-data', 'kill-after:copy-data', 'kill-during:apply-changes', 'kill-after:apply-changes', 'kill-after:delete-layer']) {
			const killed = await run(['finalize', id], { fault, rate });
			expect(killed.signal, `${fault}: ${JSON.stringify(killed.events)} ${killed.stderr}`).toBe('SIGKILL');
			expect((await journal(id)).state).toBe('finalizing');
			if (fault === 'kill-during:copy-data') {
				// The copy is the host's work: it goes on without its controller, to be adopted.
				const production = (await journal(id)).plan.disks[0]?.production ?? '';
				expect((await fillProcesses(production)).length).toBe(1);
			}
		}
		const finalized = await run(['finalize', id]);
		expect(finalized.exitCode, finalized.stderr + JSON.stringify(finalized.events)).toBe(0);
		await expectFinalized(id, ticks, backup, before);
	});

	it('QEMU killed in the middle of step 5: the finalize carries on and the guest writes are kept', async () => {
		const { backup, before } = await restorePoint('fault02');
		const started = await run(['start', 'fault02']);
		expect(started.exitCode, started.stderr).toBe(0);
		const id = sessionOf(started);
		const session = await journal(id);
		const ticks = await guestTicks(session);
		const pid = await qemuPid('fault02');

		const finalize = controller(['finalize', id], { rate: 4 * 2 ** 20 });
		await waitFor('the step 5 copy', 60_000, async () => ((await fillProcesses(session.plan.disks[0]?.production ?? '')).length > 0 ? true : undefined), 50);
		process.kill(pid, 'SIGKILL');
		let result = parse(await finalize);
		if (result.exitCode !== 0) {
			console.log(`[faults] finalize after the QEMU kill: ${JSON.stringify(result.events)}; running it again`);
			result = await run(['finalize', id]);
		}
		expect(result.exitCode, result.stderr + JSON.stringify(result.events)).toBe(0);
		await expectFinalized(id, ticks, backup, before);
	});

	it('libvirtd restarted in the middle of step 5 and of step 6: the same controller finishes the session', async () => {
		const { backup, before } = await restorePoint('fault03');
		const started = await run(['start', 'fault03']);
		expect(started.exitCode, started.stderr).toBe(0);
		const id = sessionOf(started);
		const session = await journal(id);
		const ticks = await guestTicks(session);

		const finalize = controller(['finalize', id], { rate: 4 * 2 ** 20 });
		await waitFor('the step 5 copy', 60_000, async () => ((await fillProcesses(session.plan.disks[0]?.production ?? '')).length > 0 ? true : undefined), 50);
		await libvirt.daemon.restart();
		await waitFor('step 6', 120_000, async () => ((await journal(id)).steps.find((step) => step.id === 'apply-changes')?.status === 'running' ? true : undefined), 20);
		await libvirt.daemon.restart();
		const result = parse(await finalize);
		expect(result.exitCode, result.stderr + JSON.stringify(result.events)).toBe(0);
		await expectFinalized(id, ticks, backup, before);
	});

	it('two racing starts of one VM: one runs, the other is refused naming it', async () => {
		await restorePoint('race01');
		const [first, second] = (await Promise.all([controller(['start', 'race01']), controller(['start', 'race01'])])).map(parse);
		const outcomes = [first, second].map((result) => result?.exitCode).sort();
		expect(outcomes, JSON.stringify([first?.events, second?.events])).toEqual([0, 3]);
		const winner = [first, second].find((result) => result?.exitCode === 0) as Run;
		const loser = [first, second].find((result) => result?.exitCode === 3) as Run;
		expect(JSON.stringify(loser.events)).toContain(sessionOf(winner));
		const stop = await run(['stop', sessionOf(winner)]);
		expect(stop.exitCode, stop.stderr).toBe(0);
		expect(await host.domains.names()).toContain('race01');
		expect(await host.domains.names()).not.toContain(`race01~${sessionOf(winner)}`);
	});
	it('stop after a controller died in the middle of step 5: the running copy ends, nothing of the session remains, the replaced domain is back', async () => {
		await restorePoint('fault04');
		const definitionBefore = await host.virsh.run(['dumpxml', 'fault04', '--inactive']);
		const started = await run(['start', 'fault04']);
		expect(started.exitCode, started.stderr).toBe(0);
		const id = sessionOf(started);
		const session = await journal(id);
		const production = session.plan.disks[0]?.production ?? '';
		const killed = await run(['finalize', id], { fault: 'kill-during:copy-data', rate: 2 * 2 ** 20 });
		expect(killed.signal).toBe('SIGKILL');
		expect((await fillProcesses(production)).length).toBe(1);
		const stop = await run(['stop', id]);
		expect(stop.exitCode, stop.stderr + JSON.stringify(stop.events)).toBe(0);
		expect((await journal(id)).state).toBe('stopped');
		expect(await fillProcesses(production)).toEqual([]);
		for (const file of [session.plan.workDir, ...session.plan.disks.flatMap((disk) => [disk.overlay, disk.production])]) await expect(fs.access(file)).rejects.toThrow();
		expect((await host.domains.names()).filter((name) => name.startsWith('fault04'))).toEqual(['fault04']);
		expect(await host.virsh.run(['dumpxml', 'fault04', '--inactive'])).toBe(definitionBefore);
	});
});
