// The Host contract on the lab host: real QEMU under TCG, booting the lab's own guest from a
// sample restore point. The sample destination is built once (`rundirect lab init`); each test
// gets fresh lab folders with the sample VMs in production, and ends its QEMUs by pid.
import { afterAll } from 'vitest';
import { readRestorePoint } from '../../source/catalog/catalog.ts';
import { labPaths } from '../../source/core/paths.ts';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { setAsideRoot } from '../../source/hosts/lab/set-aside.ts';
import { restorePointDir } from '../../source/lab-builder/destination.ts';
import { createLabVms } from '../../source/lab-builder/lab-vms.ts';
import type { RestorePlan } from '../../source/hosts/host.ts';
import { destroyEnv, exists, makeEnv, planFiles } from '../lab-host/helpers.ts';
import { createInitializedLabEnv, type LabEnv } from '../support/lab-env.ts';
import { type ContractFixture, hostContract } from './host-contract.ts';
import { planInputFrom, unaccounted } from './support.ts';

/** The sample lab whose destination every test restores from: built at the first test. */
let sample: Promise<LabEnv> | null = null;
afterAll(async () => {
	await (await sample?.catch(() => null))?.cleanup();
});

async function labFixture(): Promise<ContractFixture> {
	sample ??= createInitializedLabEnv();
	const { destination } = (await sample).lab;
	const env = await makeEnv();
	const lab = labPaths(env.paths);
	// The sample VMs in this test's own production storage, made from the shared destination.
	await createLabVms({ ...lab, destination });
	const host = new LabHost({ paths: env.paths, accel: 'tcg' });
	const point = await readRestorePoint(restorePointDir(destination, 'web01', '2026-11-24T0100Z'));

	async function leftovers(plan: RestorePlan): Promise<string[]> {
		const vms = await host.inventory();
		const candidates = [...planFiles(plan), plan.productionDir, setAsideRoot(lab, plan.sessionId)];
		if (!vms.some((vm) => vm.name === plan.vmName && !vm.setAside)) {
			const files = runtimeFiles(lab.run, plan.vmName);
			candidates.push(files.pidFile, files.serialFile, files.qmpSocket);
		}
		const present: string[] = [];
		for (const candidate of candidates) if (await exists(candidate)) present.push(candidate);
		return unaccounted(present, vms);
	}

	return {
		host,
		replacing: planInputFrom(point, 'c-replace', 'web01'),
		fresh: planInputFrom(point, 'c-fresh', 'web09'),
		leftovers,
		teardown: () => destroyEnv(env),
	};
}

hostContract('lab host (QEMU, TCG)', labFixture);
