// The Hyper-V driver run by the real Engine (temp state dir, temp destination with a VHDX restore
// point) against a recorded-transcript PowerShell double: the scripts the design names run in the
// right order, and every phase resumes correctly from a journal left at any of its steps.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HypervHost } from '../../source/hosts/hyperv/driver.ts';
import { ChannelRunner } from '../../source/hosts/hyperv/runner.ts';
import { parseVhdxHeaders } from '../../source/hosts/hyperv/vhdx.ts';
import { Engine } from '../../source/restore/engine.ts';
import { AbortedError } from '../../source/core/errors.ts';
import type { Phase } from '../../source/restore/session.ts';
import { SimulatedHost, TranscriptChannel, writeHypervRestorePoint } from './support.ts';
import { fakeVhdx } from './vhdx.ts';

let root: string;
let destination: string;
let state: string;

async function writeRestorePoint(options: { format?: 'vhdx' | 'qcow2'; pendingLog?: boolean } = {}): Promise<void> {
	await writeHypervRestorePoint(destination, { disks: 2, ...options });
}

beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hyperv-'));
	destination = path.join(root, 'destination');
	state = path.join(root, 'state');
	await writeRestorePoint();
});
afterEach(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

/** One controller process: a new channel, runner, driver and engine over the shared host and state. */
function controller(host: SimulatedHost) {
	const channel = new TranscriptChannel(host);
	const hyperv = new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 1, heartbeatTimeoutMs: 60_000, runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel }) });
	const engine = new Engine({ host: hyperv, stateDir: state, destination });
	return { channel, hyperv, engine };
}

async function startSession(host: SimulatedHost, replaceMode: 'set-aside' | 'delete' = 'set-aside') {
	const { channel, engine } = controller(host);
	const proposal = await engine.proposeStart({ vm: 'web01', replaceMode });
	expect(proposal.problems).toEqual([]);
	const session = await engine.beginStart(proposal);
	return { channel, engine, session };
}

const names = (channel: TranscriptChannel) => channel.calls.map((call) => call.script);

describe('Hyper-V driver under the engine', () => {
	it('start then finalize runs the seven steps in order and records the offline window', async () => {
		const host = new SimulatedHost();
		const { channel, engine, session } = await startSession(host);
		expect(session.host).toBe('hyperv');
		expect(session.plan.productionDir).toBe('D:\\VMs\\web01');
		expect(session.plan.disks[0]?.production).toBe(`D:\\VMs\\web01\\web01_disk0_${session.id}.vhdx`);
		expect(session.plan.disks[0]?.overlay).toBe(`D:\\VMs\\web01\\rundirect-${session.id}\\disk0-changes.vhdx`);
		const started = await engine.runPhase(session.id, 'start');
		expect(started.state).toBe('running');
		expect(started.setAside).toMatchObject({ name: 'web01', asideName: `web01~${session.id}` });
		const finalized = await engine.runPhase(session.id, 'finalize');
		expect(finalized.state).toBe('finalized');
		expect(finalized.apply?.pauseMs).toBe(1234.5);
		expect(names(channel)).toEqual([
			'plan-probe',
			'preflight',
			'set-aside',
			'create-disks',
			'snapshot-layer',
			'start-vm',
			'vm-status',
			'vm-status',
			'copy',
			'copy',
			'copy',
			'apply-changes',
			'delete-layer',
			'remove-vm',
		]);
		const calls = channel.calls;
		expect(calls.find((call) => call.script === 'copy')?.params.start).toBe(true);
		expect(calls.filter((call) => call.script === 'copy').slice(1).every((call) => call.params.start === false)).toBe(true);
		expect(calls.find((call) => call.script === 'remove-vm')?.params).toMatchObject({ mode: 'aside', protect: session.plan.disks.map((disk) => disk.backup) });
		const startVm = calls.find((call) => call.script === 'start-vm')?.params;
		// The MAC is in use only by the VM being replaced, so the restored VM keeps it.
		expect(startVm).toMatchObject({ generation: 2, cpus: 2, memoryBytes: 2048 * 2 ** 20, secureBoot: true, nics: [{ name: 'Network Adapter', switch: 'LAN', mac: '00155D010203', vlan: 12 }] });
		expect(calls.find((call) => call.script === 'apply-changes')?.params.offlineMode).toBe('shutdown');
	});

	it('stop discards the session and brings the set-aside VM back', async () => {
		const host = new SimulatedHost();
		const { channel, engine, session } = await startSession(host);
		await engine.runPhase(session.id, 'start');
		const stopped = await engine.runPhase(session.id, 'stop');
		expect(stopped.state).toBe('stopped');
		expect(names(channel).slice(-2)).toEqual(['discard', 'restore-set-aside']);
		expect(host.aside).toEqual({ name: 'web01', state: 'Running' });
	});

	it('--delete-replaced removes the replaced VM in step 1 and has nothing to bring back', async () => {
		const host = new SimulatedHost();
		const { channel, engine, session } = await startSession(host, 'delete');
		await engine.runPhase(session.id, 'start');
		expect(names(channel).slice(2, 4)).toEqual(['remove-vm', 'create-disks']);
		expect(channel.calls[2]?.params).toMatchObject({ mode: 'replaced', name: 'web01' });
		const stopped = await engine.runPhase(session.id, 'stop');
		expect(names(channel).slice(-1)).toEqual(['discard']);
		expect(stopped.steps.find((step) => step.id === 'restore-replaced')?.note).toMatch(/deleted in step 1/);
	});

	const phases: Array<{ phase: Phase; scripts: string[] }> = [
		{ phase: 'start', scripts: ['set-aside', 'create-disks', 'snapshot-layer', 'start-vm', 'vm-status'] },
		{ phase: 'finalize', scripts: ['copy', 'apply-changes', 'delete-layer', 'remove-vm'] },
		{ phase: 'stop', scripts: ['discard', 'restore-set-aside'] },
	];
	for (const { phase, scripts } of phases) {
		for (const target of scripts) {
			it(`${phase}: a controller killed right after ${target} did its work resumes from the journal`, async () => {
				const host = new SimulatedHost();
				const first = await startSession(host);
				if (phase !== 'start') await first.engine.runPhase(first.session.id, 'start');
				const before = first.channel.calls.length;
				// The "kill": the host finished the script, the controller never journals the step as done.
				const abort = new AbortController();
				first.channel.afterEffect = (call) => {
					if (call.script === target && !abort.signal.aborted) abort.abort();
				};
				await expect(first.engine.runPhase(first.session.id, phase, { signal: abort.signal })).rejects.toBeInstanceOf(AbortedError);
				const interrupted = await first.engine.journal.read(first.session.id);
				const ranFirst = first.channel.calls.slice(before).map((call) => call.script);
				const running = interrupted?.steps.find((step) => step.status === 'running');
				expect(running, 'the journal shows the interrupted step').toBeDefined();

				// A new process: new engine, new driver, new PowerShell; the same host and journal.
				const second = controller(host);
				const resumed = await second.engine.runPhase(first.session.id, phase);
				expect(resumed.state).toBe(phase === 'start' ? 'running' : phase === 'finalize' ? 'finalized' : 'stopped');
				const ranSecond = names(second.channel);
				// Steps journaled as done are not run again; the interrupted one is, and the rest follow.
				const doneBefore = interrupted?.steps.filter((step) => step.status === 'done').map((step) => step.id) ?? [];
				expect(resumed.steps.find((step) => step.id === running?.id)?.attempts).toBe((running?.attempts ?? 0) + 1);
				expect(ranSecond[0]).toBe(target === 'vm-status' ? 'start-vm' : target);
				const sequence = phase === 'start' ? ['set-aside', 'create-disks', 'snapshot-layer', 'start-vm'] : phase === 'finalize' ? ['copy', 'apply-changes', 'delete-layer', 'remove-vm'] : ['discard', 'restore-set-aside'];
				const firstAgain = sequence.indexOf(ranSecond[0] ?? '');
				expect(ranSecond.filter((script) => sequence.includes(script)).filter((script, index, all) => all.indexOf(script) === index)).toEqual(sequence.slice(firstAgain));
				expect(doneBefore.length).toBeGreaterThanOrEqual(0);
				expect(ranFirst).toContain(target);
				if (phase === 'finalize') expect(resumed.apply?.pauseMs).toBe(1234.5);
				if (phase === 'stop') expect(host.aside?.name).toBe('web01');
			});
		}
	}

	it('status reports state, heartbeat, changed bytes and copy progress', async () => {
		const host = new SimulatedHost();
		const { engine, session, channel } = await startSession(host);
		await engine.runPhase(session.id, 'start');
		host.copies = ['running', 'done'];
		const status = await engine.status((await engine.journal.read(session.id))!);
		expect(status).toMatchObject({ vm: 'running', runsOn: 'backup', guestAlive: true, bytesChanged: 4 * 2 ** 20, job: { kind: 'copy', status: 'running' } });
		expect(names(channel).slice(-2)).toEqual(['vm-status', 'copy']);
	});

	it('pre-flight refuses qcow2 restore points and VHDX files with a pending log, changing nothing', async () => {
		await fs.rm(destination, { recursive: true });
		await writeRestorePoint({ format: 'qcow2' });
		const host = new SimulatedHost();
		let proposal = await controller(host).engine.proposeStart({ vm: 'web01' });
		expect(proposal.problems.join('\n')).toMatch(/qcow2 image.*Hyper-V runs only VHDX/);
		await fs.rm(destination, { recursive: true });
		await writeRestorePoint({ pendingLog: true });
		const { engine, channel } = controller(host);
		proposal = await engine.proposeStart({ vm: 'web01' });
		expect(proposal.problems.join('\n')).toMatch(/pending log/);
		expect(names(channel)).toEqual(['plan-probe']);
	});

	it('the local Hyper-V host refuses to run off Windows with a clear message', async () => {
		const hyperv = new HypervHost({ computer: null, platform: 'linux', runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel: new TranscriptChannel(new SimulatedHost()) }) });
		await expect(hyperv.inventory()).rejects.toThrow(/needs Windows/);
		expect((await hyperv.describe()).warnings.join()).toMatch(/needs Windows/);
		const remote = new HypervHost({ computer: 'hv01', platform: 'linux', runner: new ChannelRunner({ computer: 'hv01', hostId: 'hyperv://hv01', channel: new TranscriptChannel(new SimulatedHost()) }) });
		expect(remote.id).toBe('hyperv://hv01');
	});

	it('reads VHDX headers: signature, checksums, pending log', () => {
		expect(parseVhdxHeaders(fakeVhdx())).toMatchObject({ isVhdx: true, pendingLog: false, sequenceNumber: 2n });
		expect(parseVhdxHeaders(fakeVhdx({ pendingLog: true })).pendingLog).toBe(true);
		expect(parseVhdxHeaders(Buffer.from('QFI\xfb'))).toMatchObject({ isVhdx: false });
		const damaged = fakeVhdx({ pendingLog: true });
		damaged[128 * 1024 + 20] = 0xff; // the newer header's checksum fails: the older one counts
		expect(parseVhdxHeaders(damaged)).toMatchObject({ pendingLog: false, sequenceNumber: 1n });
	});
});
