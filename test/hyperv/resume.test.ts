// Resume after the controller dies, against the Hyper-V model through the real driver: the
// controller is "killed" right after each script the driver runs (the script did its work on the
// host; the controller never saw the answer), and a new engine and driver run the phase again
// from the journal, until the phase ends. Every script must then find its work done and go on.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HypervHost } from '../../source/hosts/hyperv/driver.ts';
import { ChannelRunner, NodePowerShellChannel, type PowerShellRunner, type RunOptions } from '../../source/hosts/hyperv/runner.ts';
import type { PsScript } from '../../source/hosts/hyperv/scripts.ts';
import { Engine } from '../../source/restore/engine.ts';
import type { Phase, SessionRecord } from '../../source/restore/session.ts';
import { modelPrelude, modelVms, vhdxRecords } from './model/harness.ts';
import { nativeOf, scenario, sha256, type Scenario } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-resume-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

class ControllerKilled extends Error {}

/**
 * Runs each script for real, then dies after the first one whose place in this controller's run
 * (script name and how many times it ran) has not been died after before: each controller gets
 * one script further than the last, whatever the step re-runs first.
 */
class KillingRunner implements PowerShellRunner {
	readonly #inner: PowerShellRunner;
	readonly #killedAfter: Set<string>;
	readonly #counts = new Map<string, number>();

	constructor(inner: PowerShellRunner, killedAfter: Set<string>) {
		this.#inner = inner;
		this.#killedAfter = killedAfter;
	}

	async run(script: PsScript, params: unknown, options?: RunOptions): Promise<unknown> {
		const data = await this.#inner.run(script, params, options);
		const count = (this.#counts.get(script.name) ?? 0) + 1;
		this.#counts.set(script.name, count);
		const place = `${script.name}#${count}`;
		if (!this.#killedAfter.has(place)) {
			this.#killedAfter.add(place);
			throw new ControllerKilled(`controller killed after ${place}`);
		}
		return data;
	}

	/** The PowerShell process is the test's to replace (see phaseThroughKills), not each controller's. */
	async dispose(): Promise<void> {}
}

/**
 * Runs `phase` with a controller killed after each script, each time a new engine and driver over
 * the journal; the PowerShell process is replaced every third controller (a kill often takes it
 * along; reusing it the rest of the time keeps the test short). Returns where it was killed.
 */
async function phaseThroughKills(s: Scenario, sessionId: string, phase: Phase, killedAfter: Set<string>): Promise<{ kills: string[]; session: SessionRecord }> {
	const kills: string[] = [];
	let channel: NodePowerShellChannel | null = null;
	try {
		for (let controller = 0; controller < 80; controller++) {
			if (controller % 3 === 0) {
				await channel?.dispose();
				channel = new NodePowerShellChannel({ executable: pwsh as string, prelude: modelPrelude(s.host, pwsh as string) });
			}
			const runner = new KillingRunner(new ChannelRunner({ computer: null, hostId: 'hyperv', channel: channel as NodePowerShellChannel }), killedAfter);
			const hyperv = new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 100, heartbeatTimeoutMs: 30_000, runner });
			const engine = new Engine({ host: hyperv, stateDir: s.state, destination: s.destination });
			try {
				return { kills, session: await engine.runPhase(sessionId, phase) };
			} catch (error) {
				const message = (error as Error).message;
				const killed = /controller killed after (\S+)/.exec(message);
				if (!killed) throw error;
				kills.push(killed[1] as string);
			} finally {
				await engine.close();
			}
		}
		throw new Error(`${phase} did not end after 80 controllers: killed after ${kills.join(', ')}`);
	} finally {
		await channel?.dispose();
	}
}

/** Proposes and begins a start (and runs its phase, unkilled, when `start`). */
async function begin(s: Scenario, start = false): Promise<string> {
	const channel = new NodePowerShellChannel({ executable: pwsh as string, prelude: modelPrelude(s.host, pwsh as string) });
	const hyperv = new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 100, heartbeatTimeoutMs: 30_000, runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel }) });
	const engine = new Engine({ host: hyperv, stateDir: s.state, destination: s.destination });
	try {
		const proposal = await engine.proposeStart({ vm: 'web01' });
		expect(proposal.problems).toEqual([]);
		const { id } = await engine.beginStart(proposal);
		if (start) expect((await engine.runPhase(id, 'start')).state).toBe('running');
		return id;
	} finally {
		await engine.close();
		await hyperv.close();
	}
}

describe.skipIf(pwsh === null)('resume after the controller is killed after each script (model, real pwsh)', () => {
	it('start then finalize end as without kills: one VM on its production copy with the guest\'s writes, the backup untouched', async () => {
		const s = await scenario(root, 'finalize');
		const before = await sha256(s.backup);
		const id = await begin(s);
		const killedAfter = new Set<string>();
		const started = await phaseThroughKills(s, id, 'start', killedAfter);
		expect(started.session.state).toBe('running');
		expect(started.kills).toEqual(expect.arrayContaining(['set-aside#1', 'create-disks#1', 'snapshot-layer#1', 'start-vm#1']));
		let vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.name, vm.state]).sort()).toEqual([['web01', 'Running'], [`web01~${id}`, 'Off']]);
		const finalized = await phaseThroughKills(s, id, 'finalize', killedAfter);
		expect(finalized.session.state).toBe('finalized');
		expect(finalized.kills).toEqual(expect.arrayContaining(['copy#1', 'apply-changes#1', 'delete-layer#1', 'remove-vm#1']));
		vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.name, vm.state, vm.checkpointType, vm.notes])).toEqual([['web01', 'Running', 'Production', '']]);
		const production = finalized.session.plan.disks[0]?.production as string;
		expect(vms[0]?.drives.map((drive) => drive.path)).toEqual([production]);
		const records = await vhdxRecords(nativeOf(s.host, production));
		expect(records[0]).toBe('installed by the backup');
		expect(records.some((line) => line.startsWith('guest booted'))).toBe(true);
		expect(await sha256(s.backup)).toBe(before);
		expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
		await expect(fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx'))).rejects.toThrow();
	}, 240_000);

	it('stop after a start ends as without kills: nothing of the session is left, the set-aside VM runs again under its name', async () => {
		const s = await scenario(root, 'stop');
		const before = await sha256(s.backup);
		// The start's kills are the first test's: this one starts unkilled.
		const id = await begin(s, true);
		const killedAfter = new Set<string>();
		const stopped = await phaseThroughKills(s, id, 'stop', killedAfter);
		expect(stopped.session.state).toBe('stopped');
		expect(stopped.kills).toEqual(expect.arrayContaining(['discard#1', 'restore-set-aside#1']));
		const vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
		await expect(fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01'))).rejects.toThrow();
		expect(await sha256(s.backup)).toBe(before);
		expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
	}, 240_000);

	it('a restore that keeps the VM identity resumes too: start, stop, start again and finalize, killed after each script', async () => {
		const s = await scenario(root, 'identity', { backedUpWith: pwsh as string });
		const killedAfter = new Set<string>();
		const first = await begin(s);
		const started = await phaseThroughKills(s, first, 'start', killedAfter);
		expect(started.session.state).toBe('running');
		expect(started.kills).toEqual(expect.arrayContaining(['set-aside#1', 'start-vm#1']));
		// One VM holds the Id, the restored one; the replaced VM is out of Hyper-V until stop.
		expect((await modelVms(s.host)).map((vm) => [vm.id, vm.name, vm.state])).toEqual([[s.replaced.id, 'web01', 'Running']]);
		const stopped = await phaseThroughKills(s, first, 'stop', killedAfter);
		expect(stopped.session.state).toBe('stopped');
		expect(stopped.kills).toEqual(expect.arrayContaining(['discard#1', 'restore-set-aside#1']));
		expect((await modelVms(s.host)).map((vm) => [vm.id, vm.name, vm.state, vm.notes, vm.drives.map((drive) => drive.path)])).toEqual([[s.replaced.id, 'web01', 'Running', '', ['D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx']]]);

		const second = await begin(s);
		expect((await phaseThroughKills(s, second, 'start', killedAfter)).session.state).toBe('running');
		const finalized = await phaseThroughKills(s, second, 'finalize', killedAfter);
		expect(finalized.session.state).toBe('finalized');
		expect(finalized.kills).toEqual(expect.arrayContaining(['delete-layer#1', 'remove-vm#1']));
		const vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
		expect(vms[0]?.drives.map((drive) => drive.path)).toEqual(finalized.session.plan.disks.map((disk) => disk.production));
		await expect(fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx'))).rejects.toThrow();
		expect(await fs.readdir(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks'))).toEqual(['web01']);
	}, 360_000);
});
if (pwsh === null) it.skip(`resume after kills against the model: ${NO_PWSH}`, () => undefined);
