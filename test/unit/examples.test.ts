// The examples the README points to run on the sample lab as written: the drill plan parses with
// the plan reader `rundirect drill --plan` uses, and names only VMs and restore points the sample
// lab has.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDrillPlan } from '../../source/drill/plan.ts';
import { SAMPLE_VMS } from '../../source/lab-builder/sample.ts';
import { REPO } from '../support/lab-env.ts';

describe('examples/', () => {
	it('drill.json is a valid plan of the sample lab’s VMs and points', async () => {
		const plan = await readDrillPlan(path.join(REPO, 'examples', 'drill.json'));
		expect(plan.vms.map((vm) => vm.vm)).toEqual(['files01', 'db01', 'web01']);
		for (const entry of plan.vms) {
			const sample = SAMPLE_VMS.find((vm) => vm.name === entry.vm);
			expect(sample, entry.vm).toBeDefined();
			if (entry.point && entry.point !== 'latest') expect(sample?.points.map((point) => point.id)).toContain(entry.point);
		}
	});
});
