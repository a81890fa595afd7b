// `rundirect start --runbook` runbooks executed as written: the .ps1 the driver renders for a plan,
// run with -Phase start, then finalize (or stop), in one pwsh against the Hyper-V model, with no
// rundirect process involved. The host must end as the driver itself would leave it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelVms, runWithModel, vhdxRecords } from './model/harness.ts';
import { engineFor, nativeOf, scenario, sha256, type Scenario } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-runbook-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

/** The runbook of a start of web01, as `--runbook-out` writes it, and its plan. */
async function runbookFor(s: Scenario) {
	const { hyperv, engine } = engineFor(pwsh as string, s);
	try {
		const proposal = await engine.proposeStart({ vm: 'web01' });
		expect(proposal.problems).toEqual([]);
		const file = path.join(s.host.root, 'runbook.ps1');
		await fs.writeFile(file, hyperv.runbookScript(hyperv.runbook(proposal.plan), { plan: proposal.plan, generatedAt: '2026-01-01T00:00:00Z' }));
		return { plan: proposal.plan, file };
	} finally {
		await hyperv.close();
	}
}

function runPhases(s: Scenario, file: string, phases: string[]) {
	const quoted = `'${file.replace(/'/g, "''")}'`;
	const result = runWithModel(pwsh as string, s.host, phases.map((phase) => `& ${quoted} -Phase ${phase}`).join('; '));
	expect(result.stderr).toBe('');
	expect(result.status).toBe(0);
	return result.stdout;
}

describe.skipIf(pwsh === null)('runbooks executed as written (model, real pwsh)', () => {
	it('-Phase start then -Phase finalize: web01 runs on its production copy, the replaced VM is purged, the backup untouched', async () => {
		const s = await scenario(root, 'finalize');
		const before = await sha256(s.backup);
		const { plan, file } = await runbookFor(s);
		runPhases(s, file, ['start']);
		let vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.name, vm.state]).sort()).toEqual([['web01', 'Running'], [`web01~${plan.sessionId}`, 'Off']]);
		runPhases(s, file, ['finalize']);
		vms = await modelVms(s.host);
		const production = plan.disks[0]?.production as string;
		expect(vms.map((vm) => [vm.name, vm.state, vm.checkpointType, vm.notes, vm.drives.map((drive) => drive.path)])).toEqual([['web01', 'Running', 'Production', '', [production]]]);
		expect((await vhdxRecords(nativeOf(s.host, production)))[0]).toBe('installed by the backup');
		expect(await sha256(s.backup)).toBe(before);
		expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
	}, 180_000);

	it('-Phase start then -Phase stop, and each phase run twice: the set-aside VM comes back, nothing of the session is left', async () => {
		const s = await scenario(root, 'stop');
		const { plan, file } = await runbookFor(s);
		// "Every step is idempotent: rerun a phase to resume it" (the runbook's header).
		runPhases(s, file, ['start', 'start', 'stop', 'stop']);
		const vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
		await expect(fs.stat(nativeOf(s.host, plan.productionDir))).rejects.toThrow();
		expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
	}, 180_000);

	it('a restore that keeps the VM identity, as written: start, stop, start and finalize twice each — the same VM Id throughout', async () => {
		const s = await scenario(root, 'identity', { backedUpWith: pwsh as string });
		let { plan, file } = await runbookFor(s);
		expect(plan.identity?.vmId).toBe(s.replaced.id);
		runPhases(s, file, ['start', 'start']);
		expect((await modelVms(s.host)).map((vm) => [vm.id, vm.name, vm.state])).toEqual([[s.replaced.id, 'web01', 'Running']]);
		runPhases(s, file, ['stop', 'stop']);
		expect((await modelVms(s.host)).map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
		({ plan, file } = await runbookFor(s));
		runPhases(s, file, ['start', 'finalize', 'finalize']);
		const vms = await modelVms(s.host);
		expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes, vm.drives.map((drive) => drive.path)])).toEqual([[s.replaced.id, 'web01', 'Running', '', [plan.disks[0]?.production]]]);
		await expect(fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx'))).rejects.toThrow();
	}, 180_000);
});
if (pwsh === null) it.skip(`runbooks against the model: ${NO_PWSH}`, () => undefined);
