// Review point 2 against the Hyper-V model: a restore under the VM's own name, from a restore point
// `rundirect backup` made, is the backed-up VM again — the same VM Id, the same adapters (instance
// ids and static MAC), the same guest state (UEFI variables, vTPM) — imported from the configuration
// the backup kept; the replaced VM, which holds that Id, leaves Hyper-V for the session and comes
// back as it was on stop, or goes with its disks on finalize. A restore under a new name is a new
// machine beside the original.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../../source/catalog/catalog.ts';
import { modelVms, runWithModel, type ModelVm } from './model/harness.ts';
import { engineFor, nativeOf, scenario, sha256 } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-identity-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

/** What makes a Hyper-V VM itself, as the model keeps it. */
function identityOf(vm: ModelVm | undefined) {
	const adapters = (vm?.adapters ?? []) as Array<{ id: string; mac: string; dynamicMac: boolean }>;
	// The boot device is the drive step 4 points the firmware at, not part of who the VM is.
	return { id: vm?.id, adapters: adapters.map((adapter) => ({ id: adapter.id, mac: adapter.mac, dynamicMac: adapter.dynamicMac })), guestState: vm?.guestState, firmware: { ...(vm?.firmware as object), firstBoot: undefined } };
}

async function filesUnder(dir: string): Promise<Array<{ file: string; sha: string; mode: number; mtimeMs: number }>> {
	const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
	const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name)).sort();
	return Promise.all(files.map(async (file) => ({ file, sha: await sha256(file), mode: (await fs.stat(file)).mode, mtimeMs: (await fs.stat(file)).mtimeMs })));
}

describe.skipIf(pwsh === null)('a restore keeps the VM identity (model, real pwsh)', () => {
	it('rundirect backup keeps the configuration; start imports it, stop brings the replaced VM back as it was', async () => {
		const s = await scenario(root, 'stop', { backedUpWith: pwsh as string });
		const [original] = await modelVms(s.host);
		const catalog = await readCatalog(s.destination);
		expect(catalog.problems).toEqual([]);
		const point = catalog.points[0];
		expect(point?.manifest.config?.file).toBe(`config/Virtual Machines/${s.replaced.id.toUpperCase()}.vmcx`);
		expect(point?.configFile).toBe(path.join(point?.dir as string, 'config', 'Virtual Machines', `${s.replaced.id.toUpperCase()}.vmcx`));
		const backupBefore = await filesUnder(point?.dir as string);

		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const proposal = await engine.proposeStart({ vm: 'web01' });
			expect(proposal.problems).toEqual([]);
			expect(proposal.plan.identity).toEqual({ vmId: s.replaced.id, configFile: point?.configFile });
			const session = await engine.beginStart(proposal);
			const started = await engine.runPhase(session.id, 'start');
			expect(started.state).toBe('running');
			// One VM holds the Id: the restored one. The replaced VM left Hyper-V, its configuration and disk kept.
			const running = await modelVms(s.host);
			expect(running.map((vm) => [vm.name, vm.state])).toEqual([['web01', 'Running']]);
			expect(identityOf(running[0])).toEqual(identityOf(original));
			expect(running[0]?.drives.map((drive) => drive.path)).toEqual(session.plan.disks.map((disk) => disk.overlay));
			expect(running[0]?.path).toBe(session.plan.productionDir);
			expect(started.setAside?.asideName).toMatch(/^an export in D:\\Hyper-V\\Virtual Hard Disks\\rundirect-set-aside-/);
			expect(await fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx'))).toBeTruthy();

			const stopped = await engine.runPhase(session.id, 'stop');
			expect(stopped.state).toBe('stopped');
			const back = await modelVms(s.host);
			expect(back.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
			expect(identityOf(back[0])).toEqual(identityOf(original));
			expect(back[0]?.drives.map((drive) => drive.path)).toEqual(original?.drives.map((drive) => drive.path));
			// Registered where it was, from its own configuration copied back; nothing of the session left.
			expect(back[0]?.path).toBe(original?.path);
			await expect(fs.stat(nativeOf(s.host, back[0]?.configFile as string))).resolves.toBeTruthy();
			expect((await fs.readdir(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks'))).sort()).toEqual(['web01-old.vhdx']);
			await expect(fs.readdir(path.join(s.host.root, 'planned'))).resolves.toEqual([]);
			// The backup, configuration included, was only read.
			expect(await filesUnder(point?.dir as string)).toEqual(backupBefore);
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 240_000);

	it('finalize: the VM keeps its identity on production storage, and the replaced VM goes with its disk', async () => {
		const s = await scenario(root, 'finalize', { backedUpWith: pwsh as string });
		const [original] = await modelVms(s.host);
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const proposal = await engine.proposeStart({ vm: 'web01' });
			const session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			const vms = await modelVms(s.host);
			expect(vms.map((vm) => [vm.name, vm.state, vm.notes])).toEqual([['web01', 'Running', '']]);
			expect(identityOf(vms[0])).toEqual(identityOf(original));
			expect(vms[0]?.drives.map((drive) => drive.path)).toEqual(session.plan.disks.map((disk) => disk.production));
			// Purged: its disk and its export; nothing else in the folder but the restored VM's.
			await expect(fs.stat(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks\\web01-old.vhdx'))).rejects.toThrow();
			expect(await fs.readdir(nativeOf(s.host, 'D:\\Hyper-V\\Virtual Hard Disks'))).toEqual(['web01']);
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 240_000);

	it('under a new name it is a new machine beside the original: a new Id, new adapters, a dynamic MAC, a new guest state', async () => {
		const s = await scenario(root, 'new-name', { backedUpWith: pwsh as string });
		const [original] = await modelVms(s.host);
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const proposal = await engine.proposeStart({ vm: 'web01', name: 'web01-test' });
			expect(proposal.problems).toEqual([]);
			expect(proposal.plan.identity).toBeUndefined();
			const session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			const vms = await modelVms(s.host);
			expect(vms.map((vm) => [vm.name, vm.state]).sort()).toEqual([['web01', 'Running'], ['web01-test', 'Running']]);
			const copy = identityOf(vms.find((vm) => vm.name === 'web01-test'));
			expect(copy.id).not.toBe(original?.id);
			expect(copy.guestState).not.toBe(original?.guestState);
			expect(copy.adapters).toHaveLength(1);
			expect(copy.adapters[0]?.dynamicMac).toBe(true);
			expect(copy.adapters[0]?.mac).not.toBe(identityOf(original).adapters[0]?.mac);
			expect(copy.adapters[0]?.id).not.toBe(identityOf(original).adapters[0]?.id);
			expect(identityOf(vms.find((vm) => vm.name === 'web01'))).toEqual(identityOf(original));
			expect((await engine.runPhase(session.id, 'stop')).state).toBe('stopped');
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 240_000);

	it('pre-flight refuses a restore under the VM name while another VM holds its Id, saying what to do', async () => {
		const s = await scenario(root, 'id-taken', { backedUpWith: pwsh as string });
		// The original was renamed since its backup: restoring "web01" would need its Id.
		const renamed = runWithModel(pwsh as string, s.host, `Set-VM -VM (Get-VM -Name web01) -NewVMName 'web01-old'`);
		expect(renamed.status, renamed.stderr).toBe(0);
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const proposal = await engine.proposeStart({ vm: 'web01' });
			expect(proposal.problems.join('\n')).toMatch(new RegExp(`VM web01-old on .* holds the Id ${s.replaced.id} of the backed-up VM.*restore with --name`));
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 240_000);
});
if (pwsh === null) it.skip(`VM identity against the model: ${NO_PWSH}`, () => undefined);
