// Step 5's copy workers on the Hyper-V model (real pwsh, real detached worker processes): a
// worker found gone is started again, a couple of times, and the finalize ends byte-exact; when
// workers keep dying the step fails saying why, and finalize run again finishes the job.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setHost, vhdxRecords } from './model/harness.ts';
import { engineFor, nativeOf, scenario } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-copy-worker-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

describe.skipIf(pwsh === null)('copy workers that die (model, real pwsh)', () => {
	it('a worker that dies at its start is started again, and the finalize ends with the backup copied', async () => {
		const s = await scenario(root, 'one-crash');
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			await engine.runPhase(session.id, 'start');
			await setHost(s.host, { crashingProcesses: 1 });
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			// The worker did die (the model's fault was used up), and the copy was done all the same.
			expect((JSON.parse(await fs.readFile(path.join(s.host.root, 'host.json'), 'utf8')) as { crashingProcesses: number }).crashingProcesses).toBe(0);
			expect((await vhdxRecords(nativeOf(s.host, session.plan.disks[0]?.production as string)))[0]).toBe('installed by the backup');
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 180_000);

	it('workers that keep dying fail step 5 with the reason; finalize run again finishes', async () => {
		const s = await scenario(root, 'many-crashes');
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			const session = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
			await engine.runPhase(session.id, 'start');
			await setHost(s.host, { crashingProcesses: 3 });
			await expect(engine.runPhase(session.id, 'finalize')).rejects.toThrow(/its worker \(pid \d+\) is no longer running, at 0 of \d+ bytes\) stopped without finishing/);
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
		} finally {
			await engine.close();
			await hyperv.close();
		}
	}, 180_000);
});
if (pwsh === null) it.skip(`copy workers against the model: ${NO_PWSH}`, () => undefined);
