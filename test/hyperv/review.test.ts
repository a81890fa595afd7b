// Points of the review against the reference (issue 13), each run against the Hyper-V model on a
// real pwsh: the script as the driver sends it, its parameters as base64 JSON.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeParams } from '../../source/hosts/hyperv/encoding.ts';
import { parseEnvelope } from '../../source/hosts/hyperv/envelope.ts';
import { SCRIPTS, type PsScript } from '../../source/hosts/hyperv/scripts.ts';
import { createModelHost, modelVhdx, modelVms, runWithModel, seedVm, type ModelHost } from './model/harness.ts';
import { engineFor, nativeOf, scenario } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

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
});
if (pwsh === null) it.skip(`review points against the model: ${NO_PWSH}`, () => undefined);
