// Points of the review against the reference (issue 13), each run against the Hyper-V model on a
// real pwsh: the script as the driver sends it, its parameters as base64 JSON.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../../source/catalog/catalog.ts';
import { encodeParams } from '../../source/hosts/hyperv/encoding.ts';
import { Engine } from '../../source/restore/engine.ts';
import { parseEnvelope } from '../../source/hosts/hyperv/envelope.ts';
import { explain } from '../../source/hosts/hyperv/errors.ts';
import { planParams } from '../../source/hosts/hyperv/plan-params.ts';
import { readPreflight } from '../../source/hosts/hyperv/results.ts';
import { SCRIPTS, type PsScript } from '../../source/hosts/hyperv/scripts.ts';
import { changeVm, createModelHost, modelDriver, modelVhdx, modelVms, runWithModel, seedVm, type ModelHost } from './model/harness.ts';
import { commandUses, parsePowerShell } from './parse.ts';
import { engineFor, nativeOf, scenario } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';
import { samplePlan } from './support.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-review-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

async function runScript(host: ModelHost, script: PsScript, params: unknown) {
	const file = path.join(host.root, `${script.name}.ps1`);
	await fs.writeFile(file, script.text);
	const result = runWithModel(pwsh as string, host, `& '${file.replace(/'/g, "''")}' '${encodeParams(params)}'`);
	return parseEnvelope(result.stdout, result.stderr);
}

/** A differencing disk on `parent` in the model's D: drive (created by the model's own New-VHD). */
function differencing(host: ModelHost, child: string, parent: string): void {
	const result = runWithModel(pwsh as string, host, `$null = New-VHD -Path '${child}' -ParentPath '${parent}' -Differencing`);
	expect(result.stderr).toBe('');
}

describe.skipIf(pwsh === null)('review points, against the model', () => {
	it('1: deleting a replaced VM keeps a parent disk another VM\'s chain still uses (a golden image)', async () => {
		const host = await createModelHost(path.join(root, 'golden'));
		await fs.mkdir(path.join(host.driveD, 'VMs'), { recursive: true });
		await fs.writeFile(path.join(host.driveD, 'VMs', 'golden.vhdx'), modelVhdx({ records: ['golden image'] }));
		differencing(host, 'D:\\VMs\\web01.vhdx', 'D:\\VMs\\golden.vhdx');
		differencing(host, 'D:\\VMs\\web02.vhdx', 'D:\\VMs\\golden.vhdx');
		await seedVm(host, { name: 'web01', state: 'Running', disk: 'D:\\VMs\\web01.vhdx' });
		await seedVm(host, { name: 'web02', state: 'Running', disk: 'D:\\VMs\\web02.vhdx' });
		const envelope = await runScript(host, SCRIPTS.removeVm, { mode: 'replaced', sessionId: 's1', name: 'web01', protect: [] });
		expect(envelope).toMatchObject({ ok: true, data: { removed: true, files: ['D:\\VMs\\web01.vhdx'], kept: ['D:\\VMs\\golden.vhdx'] } });
		expect((await fs.readdir(path.join(host.driveD, 'VMs'))).sort()).toEqual(['golden.vhdx', 'web02.vhdx']);
		expect((await modelVms(host)).map((vm) => vm.name)).toEqual(['web02']);
	}, 60_000);

	it('9: a location or a backup path with "[" or "]" is refused by the plan, before anything changes', async () => {
		const s = await scenario(root, 'brackets', { destinationDir: 'backups [2026]' });
		await fs.mkdir(nativeOf(s.host, 'D:\\VMs [new]'), { recursive: true });
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			await expect(engine.proposeStart({ vm: 'web01', location: 'D:\\VMs [new]' })).rejects.toThrow(/the location D:\\VMs \[new\] contains "\[" or "\]", which Hyper-V's disk cmdlets read as a wildcard pattern/);
			await expect(engine.proposeStart({ vm: 'web01' })).rejects.toThrow(/the backup disk .*backups \[2026\].* contains "\[" or "\]"/);
			expect((await modelVms(s.host)).map((vm) => [vm.name, vm.state, vm.notes])).toEqual([['web01', 'Running', '']]);
		} finally {
			await hyperv.close();
		}
	}, 60_000);

	it('5: a generation 1 restore point with a disk at IDE 1:0 starts: New-VM\'s DVD drive there gives way', async () => {
		const s = await scenario(root, 'gen1', {
			settings: { generation: 1, firmware: 'bios', secureBoot: false, secureBootTemplate: null },
			disks: [
				{ controller: 'ide', controllerNumber: 0, location: 0 },
				{ controller: 'ide', controllerNumber: 1, location: 0 },
			],
		});
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			expect((await engine.runPhase(session.id, 'start')).state).toBe('running');
			const vm = (await modelVms(s.host)).find((entry) => entry.name === 'web01');
			expect(vm?.drives.map((drive) => [drive.kind, drive.controllerType, drive.controllerNumber, drive.controllerLocation, drive.path])).toEqual([
				['HardDisk', 'IDE', 0, 0, session.plan.disks[0]?.overlay],
				['HardDisk', 'IDE', 1, 0, session.plan.disks[1]?.overlay],
			]);
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
		} finally {
			await hyperv.close();
		}
	}, 120_000);

	it('10: a VM paused when step 6 begins is resumed, shut down, merged and started; step 7 gives back the checkpoint type and start action it had', async () => {
		const s = await scenario(root, 'paused', { host: { newVm: { checkpointType: 'Standard', automaticStartAction: 'Start' } } });
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			await engine.runPhase(session.id, 'start');
			expect((await modelVms(s.host)).find((vm) => vm.name === 'web01')).toMatchObject({ checkpointType: 'Disabled', automaticStartAction: 'Nothing' });
			await changeVm(s.host, 'web01', { state: 'Paused' });
			const finalized = await engine.runPhase(session.id, 'finalize');
			expect(finalized.state).toBe('finalized');
			const [vm] = await modelVms(s.host);
			expect(vm).toMatchObject({ name: 'web01', state: 'Running', checkpointType: 'Standard', automaticStartAction: 'Start' });
			expect(vm?.drives.map((drive) => drive.path)).toEqual([session.plan.disks[0]?.production]);
		} finally {
			await hyperv.close();
		}
	}, 120_000);

	it('4: without the guest\'s Shutdown service step 6 refuses and turns nothing off; once the guest is shut down by hand, finalize completes and starts the VM', async () => {
		const s = await scenario(root, 'no-shutdown', { host: { guest: { heartbeat: true, shutdown: false } } });
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			await engine.runPhase(session.id, 'start');
			await expect(engine.runPhase(session.id, 'finalize')).rejects.toThrow(/cannot be shut down through its guest .* Shutdown integration service is No Contact\. rundirect never turns a VM off/);
			let vm = (await modelVms(s.host)).find((entry) => entry.name === 'web01');
			expect(vm).toMatchObject({ state: 'Running' });
			expect(vm?.drives.map((drive) => drive.path)).toEqual([session.plan.disks[0]?.overlay]);
			// The guest shut down from inside: finalize goes on and the VM runs again, on production storage.
			await changeVm(s.host, 'web01', { state: 'Off', startedAt: null });
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			vm = (await modelVms(s.host)).find((entry) => entry.name === 'web01');
			expect(vm).toMatchObject({ state: 'Running' });
			expect(vm?.drives.map((drive) => drive.path)).toEqual([session.plan.disks[0]?.production]);
		} finally {
			await hyperv.close();
		}
	}, 120_000);

	it('3, 4: step 6 re-parents only offline (no Set-VHD -LeafPath on a running chain), never saves and never turns the VM off', async () => {
		const { root: tree } = await parsePowerShell(SCRIPTS.applyChanges.text);
		const uses = commandUses(tree);
		expect(uses.filter((use) => use.name === 'Set-VHD').map((use) => use.parameters)).toEqual([['Path', 'ParentPath']]);
		expect(uses.filter((use) => use.name === 'Stop-VM').map((use) => use.parameters)).toEqual([['VM', 'Force']]);
		expect(uses.filter((use) => use.name === 'Save-VM')).toEqual([]);
	});

	it('6: a VM named with spaces and an unconnected NIC is backed up into a valid restore point, which restores with its journal and lock under that name', async () => {
		const host = await createModelHost(path.join(root, 'spaces', 'host'));
		const disk = 'D:\\Hyper-V\\Virtual Hard Disks\\web 01.vhdx';
		await fs.writeFile(path.join(host.driveD, 'Hyper-V', 'Virtual Hard Disks', 'web 01.vhdx'), modelVhdx({ records: ['web 01 data'] }));
		const seeded = await seedVm(host, { name: 'web 01', state: 'Running', disk });
		const adapters = [...(seeded.adapters as object[]), { id: crypto.randomUUID(), name: 'Network Adapter 2', switchName: null, mac: '00155D0A0B0D', dynamicMac: false, vlan: null }];
		await fs.writeFile(path.join(host.root, 'vms', `${String(seeded.id)}.json`), JSON.stringify({ ...seeded, adapters }));
		const destination = path.join(root, 'spaces', 'destination');
		const state = path.join(root, 'spaces', 'state');
		const hyperv = modelDriver(pwsh as string, host);
		try {
			const backup = await hyperv.backup('web 01', destination);
			expect(backup.manifest.vm).toMatchObject({ name: 'web 01', nics: [{ switch: 'LAN' }, { switch: null, mac: '00:15:5D:0A:0B:0D' }] });
			const catalog = await readCatalog(destination);
			expect(catalog.problems).toEqual([]);
			const engine = new Engine({ host: hyperv, stateDir: state, destination });
			const proposal = await engine.proposeStart({ vm: 'web 01' });
			expect(proposal.problems).toEqual([]);
			expect(proposal.plan.productionDir).toBe('D:\\Hyper-V\\Virtual Hard Disks\\web 01');
			const session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			// The journal and the claim on the name hold it as it is.
			expect((await engine.journal.read(session.id))?.vm).toBe('web 01');
			expect(await fs.readdir(path.join(state, 'locks'))).toEqual([expect.stringMatching(/^web_01-[0-9a-f]+\.lock$/)]);
			const running = (await modelVms(host)).find((vm) => vm.name === 'web 01');
			expect(running?.adapters).toMatchObject([{ switchName: 'LAN' }, { switchName: null }]);
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			expect((await modelVms(host)).map((vm) => [vm.name, vm.state])).toEqual([['web 01', 'Running']]);
		} finally {
			await hyperv.close();
		}
	}, 180_000);

	it('11: over remoting, a backup on a share the session cannot reach is named as the second hop, with what to configure', async () => {
		const host = await createModelHost(path.join(root, 'double-hop'));
		const plan = samplePlan();
		const params = planParams.preflight(plan, 0);
		const file = path.join(host.root, 'preflight.ps1');
		await fs.writeFile(file, SCRIPTS.preflight.text);
		const run = (prefix: string) => parseEnvelope(runWithModel(pwsh as string, host, `${prefix}& '${file.replace(/'/g, "''")}' '${encodeParams(params)}'`).stdout);
		// $PSSenderInfo is what PowerShell sets in a session opened by remoting (Invoke-Command -ComputerName).
		const remote = run("$global:PSSenderInfo = [pscustomobject]@{ UserInfo = 'CONTOSO\\admin' }; ");
		const local = run('');
		const codes = (envelope: ReturnType<typeof parseEnvelope>) => readPreflight(envelope.data).filter((problem) => problem.subject.startsWith('\\\\')).map((problem) => problem.code);
		expect(codes(remote)).toEqual(['DOUBLE_HOP', 'DOUBLE_HOP']);
		expect(codes(local)).toEqual(['PATH_MISSING', 'PATH_MISSING']);
		expect(explain('DOUBLE_HOP', plan.disks[0]?.backup ?? '', 'hv01')).toMatch(/second hop.*resource-based Kerberos constrained delegation.*CredSSP/);
	}, 60_000);
});
if (pwsh === null) it.skip(`review points against the model: ${NO_PWSH}`, () => undefined);
