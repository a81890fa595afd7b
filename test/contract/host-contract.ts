// What every Host must do, written once against the `Host` interface alone (no driver is
// imported here) and run against each host by a one-line runner (test/contract/*.contract.test.ts).
// A new driver proves itself by writing a fixture and calling `hostContract` with it.
//
// The host is judged by what it shows of itself (`inventory`, `status`); files it keeps but
// cannot show are the fixture's `leftovers`. Every step is run twice in a row: the second run
// must succeed and change nothing a caller can see (a controller that crashed after a step did
// its work, but before journaling it, runs it again).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Host, HostVm, PlanInput, RestorePlan, RuntimeStatus, SetAsideRecord } from '../../source/hosts/host.ts';

export interface ContractFixture {
	host: Host;
	/** A restore over a VM that exists on the host (not running from a backup): step 1 sets it aside. */
	replacing: PlanInput;
	/** A restore under a name no VM on the host has: nothing is replaced. */
	fresh: PlanInput;
	/**
	 * What the session made (work folder, snapshot layers, production copies, set-aside storage,
	 * a VM's runtime files) that no VM of `host.inventory()` accounts for: what the interface
	 * cannot show. A host that keeps nothing outside its VMs returns [].
	 */
	leftovers(plan: RestorePlan): Promise<string[]>;
	/** Ends every process the fixture (or the host) started, by pid, and removes what it made. */
	teardown(): Promise<void>;
}

/** A VM as the contract compares it: everything `inventory` says, in a stable order. */
type Shown = Pick<HostVm, 'name' | 'id' | 'state' | 'runningFromBackup' | 'setAside' | 'disks'>;

async function shown(host: Host): Promise<Shown[]> {
	return (await host.inventory())
		.map(({ name, id, state, runningFromBackup, setAside, disks }) => ({ name, id, state, runningFromBackup, setAside, disks }))
		.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** What a caller sees of the host and of one session, minus what moves by itself (bytes, guest signals, jobs). */
async function observe(host: Host, plan: RestorePlan): Promise<{ vms: Shown[]; status: Pick<RuntimeStatus, 'vm' | 'runsOn'> }> {
	const { vm, runsOn } = await host.status(plan);
	return { vms: await shown(host), status: { vm, runsOn } };
}

/**
 * Runs a step, then again at once: the re-run must succeed and change nothing visible, and with
 * `sameResult` return what the first run did (the engine relies on it for step 1's record).
 */
async function twice<T>(host: Host, plan: RestorePlan, step: string, run: () => Promise<T>, sameResult = false): Promise<T> {
	const first = await run();
	const after = await observe(host, plan);
	const again = await run();
	expect(await observe(host, plan), `${step} run again right after it completed`).toEqual(after);
	if (sameResult) expect(again, `${step} run again returns the same`).toEqual(first);
	return first;
}

/**
 * The VM step 1 set aside, as inventory shows it. Hosts differ in its name while it is aside:
 * the lab keeps the original name, Hyper-V (and the memory host) show the aside name.
 */
function setAsideVms(vms: Shown[], record: SetAsideRecord): Shown[] {
	return vms.filter((vm) => vm.setAside && (vm.name === record.name || vm.name === record.asideName));
}

/** The session's own VM (never a set-aside one). */
function sessionVm(vms: Shown[], plan: RestorePlan): Shown | undefined {
	return vms.find((vm) => vm.name === plan.vmName && !vm.setAside);
}

type StartStep = 1 | 2 | 3 | 4;

/** Steps 1 to `last` of the start phase, each run twice; the set-aside record of step 1. */
async function startUpTo(host: Host, plan: RestorePlan, last: StartStep): Promise<SetAsideRecord | null> {
	const record = await twice(host, plan, 'setAsideVm', () => host.setAsideVm(plan), true);
	if (last >= 2) await twice(host, plan, 'createDisks', () => host.createDisks(plan));
	if (last >= 3) await twice(host, plan, 'createSnapshotLayer', () => host.createSnapshotLayer(plan));
	if (last >= 4) await twice(host, plan, 'startVm', () => host.startVm(plan));
	return record;
}

export function hostContract(name: string, factory: () => Promise<ContractFixture>): void {
	describe(`Host contract: ${name}`, () => {
		let fixture: ContractFixture;
		let host: Host;

		beforeEach(async () => {
			fixture = await factory();
			host = fixture.host;
		});
		afterEach(async () => {
			await host.close();
			await fixture.teardown();
		});

		/** A planned restore over an existing VM, with what the host showed before it. */
		async function planReplacing(): Promise<{ plan: RestorePlan; before: Shown[] }> {
			const before = await shown(host);
			const plan = await host.plan(fixture.replacing);
			expect(plan.vmName).toBe(fixture.replacing.target.name);
			expect(plan.replaces, 'the fixture\'s "replacing" restore names an existing VM').toBe(fixture.replacing.target.name);
			expect(sessionVm(before, plan), 'the VM to replace is in the inventory').toBeDefined();
			expect(await host.preflight(plan)).toEqual([]);
			return { plan, before };
		}

		it('start then finalize: the VM runs from the backup, then from production, and the replaced VM is purged', async () => {
			const { plan, before } = await planReplacing();
			const record = await startUpTo(host, plan, 1);
			expect(record).toMatchObject({ name: plan.replaces });
			let vms = await shown(host);
			expect(setAsideVms(vms, record!), 'step 1 keeps the replaced VM, set aside').toHaveLength(1);
			expect(sessionVm(vms, plan), 'nothing runs under the name until step 4').toBeUndefined();
			expect((await host.status(plan)).vm).toBe('missing');

			await twice(host, plan, 'createDisks', () => host.createDisks(plan));
			await twice(host, plan, 'createSnapshotLayer', () => host.createSnapshotLayer(plan));
			await twice(host, plan, 'startVm', () => host.startVm(plan));
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'backup' });
			expect(sessionVm(await shown(host), plan)).toMatchObject({ state: 'running', runningFromBackup: plan.sessionId });

			await twice(host, plan, 'copyData', () => host.copyData(plan));
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'backup' });
			const applied = await twice(host, plan, 'applyChanges', () => host.applyChanges(plan));
			expect(applied.pauseMs).toBeGreaterThanOrEqual(0);
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'production' });
			await twice(host, plan, 'deleteSnapshotLayer', () => host.deleteSnapshotLayer(plan));
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'production' });

			await twice(host, plan, 'purgeSetAside', () => host.purgeSetAside(plan, record!));
			vms = await shown(host);
			expect(setAsideVms(vms, record!), 'the replaced VM is purged').toEqual([]);
			expect(sessionVm(vms, plan)).toMatchObject({ state: 'running', runningFromBackup: null });
			// Every other VM is as it was.
			const others = (list: Shown[]) => list.filter((vm) => vm.name !== plan.vmName && vm.name !== record!.asideName);
			expect(others(vms)).toEqual(others(before));
			expect(await fixture.leftovers(plan), 'nothing of the session but the VM itself').toEqual([]);
		});

		it('start then stop: discard leaves nothing, and the replaced VM comes back as it was', async () => {
			const { plan, before } = await planReplacing();
			const record = await startUpTo(host, plan, 4);
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'backup' });

			await twice(host, plan, 'discard', () => host.discard(plan));
			expect((await host.status(plan)).vm).toBe('missing');
			const vms = await shown(host);
			expect(sessionVm(vms, plan), "the session's VM is gone").toBeUndefined();
			expect(setAsideVms(vms, record!), 'the replaced VM is still set aside').toHaveLength(1);
			expect(await fixture.leftovers(plan)).toEqual([]);

			await twice(host, plan, 'restoreSetAside', () => host.restoreSetAside(plan, record!));
			expect(await shown(host), 'the replaced VM is back under its name, as it was').toEqual(before);
			expect(await fixture.leftovers(plan)).toEqual([]);
		});

		// Step 4 is covered by the stop lifecycle above.
		it.each([1, 2, 3] as const)('a start stopped after step %i is discarded without a trace', async (last) => {
			const { plan, before } = await planReplacing();
			const record = await startUpTo(host, plan, last);
			await host.discard(plan);
			expect((await host.status(plan)).vm).toBe('missing');
			expect(sessionVm(await shown(host), plan)).toBeUndefined();
			expect(await fixture.leftovers(plan)).toEqual([]);
			await host.restoreSetAside(plan, record!);
			expect(await shown(host)).toEqual(before);
			expect(await fixture.leftovers(plan)).toEqual([]);
		});

		it('a restore under a new name replaces nothing, and its discard leaves the host as it was', async () => {
			const before = await shown(host);
			const plan = await host.plan(fixture.fresh);
			expect(plan.replaces).toBeNull();
			expect(before.some((vm) => vm.name === plan.vmName), 'the fixture\'s "fresh" name is free').toBe(false);
			expect(await host.preflight(plan)).toEqual([]);
			expect(await startUpTo(host, plan, 4)).toBeNull();
			expect(await host.status(plan)).toMatchObject({ vm: 'running', runsOn: 'backup' });
			expect(sessionVm(await shown(host), plan)).toMatchObject({ runningFromBackup: plan.sessionId });
			await twice(host, plan, 'discard', () => host.discard(plan));
			expect(await shown(host)).toEqual(before);
			expect(await fixture.leftovers(plan)).toEqual([]);
		});

		it('preflight refuses a plan whose name is taken by a VM it does not replace, changing nothing', async () => {
			const before = await shown(host);
			// As planned before that VM existed: the restore would run over it unannounced.
			const stale: RestorePlan = { ...(await host.plan(fixture.replacing)), replaces: null };
			expect((await host.preflight(stale)).length).toBeGreaterThan(0);
			expect(await shown(host)).toEqual(before);
		});
	});
}
