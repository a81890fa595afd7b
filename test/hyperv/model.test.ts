// The Hyper-V driver executed: the real engine and driver, node-powershell spawning a real pwsh,
// the real scripts, against the Hyper-V model (test/hyperv/model) whose cmdlets have the 5.1
// parameter sets. Skipped, and saying so, where no pwsh is found.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelHost, modelVms, runWithModel, seedVm, vhdxMeta, vhdxRecords } from './model/harness.ts';
import { BACKUP_ID, engineFor as makeEngine, scenario as makeScenario, sha256, type Scenario } from './model/scenario.ts';
import { DEFAULT_PROFILE, generate, OUTPUT, type Profile } from './model/generate.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();

let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-model-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

function scenario(name: string) {
	return makeScenario(root, name);
}

function engineFor(s: Scenario) {
	return makeEngine(pwsh as string, s);
}

describe.skipIf(pwsh === null)('the Hyper-V driver against the model (real pwsh, node-powershell)', () => {
	it('start then finalize: the VM runs from the backup, then on its production copy with the guest\'s writes; the backup is untouched', async () => {
		const s = await scenario('finalize');
		const before = await sha256(s.backup);
		const { hyperv, engine } = engineFor(s);
		try {
			const proposal = await engine.proposeStart({ vm: 'web01' });
			expect(proposal.problems).toEqual([]);
			const session = await engine.beginStart(proposal);
			const started = await engine.runPhase(session.id, 'start');
			expect(started.state).toBe('running');
			let vms = await modelVms(s.host);
			const restored = vms.find((vm) => vm.name === 'web01');
			expect(restored).toMatchObject({ state: 'Running', generation: 2, processorCount: 2, checkpointType: 'Disabled', firmware: { secureBoot: 'On', template: 'MicrosoftWindows' } });
			expect(restored?.adapters).toMatchObject([{ name: 'Network Adapter', switchName: 'LAN', mac: '00155D010203', vlan: 12 }]);
			expect(vms.find((vm) => vm.id === s.replaced.id)).toMatchObject({ name: `web01~${session.id}`, state: 'Off' });
			const overlay = session.plan.disks[0]!.overlay;
			expect(restored?.drives[0]?.path).toBe(overlay);
			// The backup is marked read-only (a real file attribute) and the guest writes to the differencing disk only.
			expect((await fs.stat(s.backup)).mode & 0o222).toBe(0);
			expect(await sha256(s.backup)).toBe(before);

			const finalized = await engine.runPhase(session.id, 'finalize');
			expect(finalized.state).toBe('finalized');
			expect(finalized.apply?.pauseMs).toBeGreaterThan(0);
			vms = await modelVms(s.host);
			expect(vms.map((vm) => vm.name)).toEqual(['web01']);
			const production = session.plan.disks[0]!.production;
			const vm = vms[0]!;
			expect(vm).toMatchObject({ state: 'Running', checkpointType: 'Production', notes: '' });
			expect(vm.drives[0]?.path).toBe(production);
			const nativeProduction = path.join(s.host.driveD, ...production.slice(3).split('\\'));
			// The production copy has the backup's identity and bytes, plus what the guest wrote while it ran from the backup.
			expect((await vhdxMeta(nativeProduction)).diskIdentifier).toBe(BACKUP_ID);
			const records = await vhdxRecords(nativeProduction);
			expect(records[0]).toBe('installed by the backup');
			expect(records.filter((line) => line.startsWith('guest booted')).length).toBeGreaterThanOrEqual(2);
			await expect(fs.stat(path.join(s.host.driveD, ...session.plan.workDir.slice(3).split('\\')))).rejects.toThrow();
			expect(await sha256(s.backup)).toBe(before);
			expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
			// The replaced VM was purged with its disk.
			await expect(fs.stat(path.join(s.host.driveD, 'Hyper-V', 'Virtual Hard Disks', 'web01-old.vhdx'))).rejects.toThrow();
		} finally {
			await hyperv.close();
		}
	}, 180_000);

	it('start then stop: everything of the session goes and the set-aside VM comes back running', async () => {
		const s = await scenario('stop');
		const before = await sha256(s.backup);
		const { hyperv, engine } = engineFor(s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			await engine.runPhase(session.id, 'start');
			const stopped = await engine.runPhase(session.id, 'stop');
			expect(stopped.state).toBe('stopped');
			const vms = await modelVms(s.host);
			expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
			await expect(fs.stat(path.join(s.host.driveD, 'Hyper-V', 'Virtual Hard Disks', 'web01'))).rejects.toThrow();
			expect(await sha256(s.backup)).toBe(before);
			expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
		} finally {
			await hyperv.close();
		}
	}, 180_000);

	it('the model\'s binder rejects what 5.1 would: an unknown parameter, parameters of two sets, a missing mandatory one, a wrong type', async () => {
		const host = await createModelHost(path.join(root, 'binder'));
		await seedVm(host, { name: 'b1', state: 'Off' });
		const probe = (call: string) => `try { $null = ${call}; 'BOUND' } catch { $_.FullyQualifiedErrorId.Split(',')[0] }`;
		const calls = [
			"Stop-VM -VM (Get-VM) -Bogus",
			"Stop-VM -VM (Get-VM) -Name 'b1'",
			'Merge-VHD -DestinationPath x',
			"Set-VM -VM (Get-VM) -CheckpointType Sometimes",
			"Get-VMHardDiskDrive -VM (Get-VM) -ControllerType SCSI",
		];
		const result = runWithModel(pwsh as string, host, calls.map(probe).join('; '));
		expect(result.stdout.trim().split(/\r?\n/)).toEqual(['NamedParameterNotFound', 'AmbiguousParameterSet', 'MissingMandatoryParameter', 'ParameterArgumentTransformationError', 'BOUND']);
	}, 60_000);
});
if (pwsh === null) it.skip(`the Hyper-V driver against the model: ${NO_PWSH}`, () => undefined);

describe('the model\'s declarations', () => {
	it('are generated from the reference and up to date (checked where ../shared/reference exists)', async () => {
		const profile = await fs.readFile(DEFAULT_PROFILE, 'utf8').catch(() => null);
		if (profile === null) return;
		expect(await fs.readFile(OUTPUT, 'utf8')).toBe(await generate(JSON.parse(profile) as Profile));
	});
});
