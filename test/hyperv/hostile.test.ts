// The hostile-value corpus (support.ts HOSTILE) through real lifecycles on the Hyper-V model, the
// real driver and a real pwsh: in the restore location and the backup's path (as folder names a
// Windows volume accepts), as switch names (one NIC each), and in the replaced VM's notes, which
// rundirect tags and untags. Every value must arrive as itself and leave nothing changed.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelVms, vhdxRecords } from './model/harness.ts';
import { engineFor, nativeOf, scenario, sha256 } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';
import { HOSTILE } from './support.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-hostile-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

/** A value as a Windows folder name: what NTFS forbids (controls, <>:"/\|?*) becomes "_", at most 64 characters. */
function asFolder(value: string): string {
	// eslint-disable-next-line no-control-regex -- control characters are what Windows forbids in names
	return value.replace(/[\x00-\x1f<>:"/\\|?*]/g, '_').slice(0, 64);
}

const FOLDERS = HOSTILE.map(asFolder);
/** Hyper-V switch names are free text; the restore point's schema allows 128 characters. */
const SWITCHES = HOSTILE.filter((value) => value.length <= 128);

describe.skipIf(pwsh === null)('hostile values through real lifecycles (model, real pwsh)', () => {
	it('start then stop, then start then finalize: paths, switch names and notes arrive and leave as themselves', async () => {
		const notes = HOSTILE.join('\n');
		const s = await scenario(root, 'hostile', {
			destinationDir: path.join(...FOLDERS.slice(0, 7)),
			nics: SWITCHES.map((name) => ({ switch: name, mac: null, vlan: null })),
			notes,
		});
		const location = `D:\\${FOLDERS.slice(7).join('\\')}`;
		await fs.mkdir(nativeOf(s.host, location), { recursive: true });
		const before = await sha256(s.backup);
		const { hyperv, engine } = engineFor(pwsh as string, s);
		try {
			// start, stop: the replaced VM comes back with its notes exactly as they were.
			let proposal = await engine.proposeStart({ vm: 'web01', location });
			expect(proposal.problems).toEqual([]);
			expect(proposal.plan.productionDir).toBe(`${location}\\web01`);
			let session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			let vms = await modelVms(s.host);
			const running = vms.find((vm) => vm.name === 'web01');
			expect(running?.adapters?.map((adapter) => (adapter as { switchName: string }).switchName)).toEqual(SWITCHES);
			expect(running?.drives[0]?.path).toBe(session.plan.disks[0]?.overlay);
			expect((await engine.runPhase(session.id, 'stop')).state).toBe('stopped');
			vms = await modelVms(s.host);
			expect(vms.map((vm) => [vm.id, vm.name, vm.state, vm.notes])).toEqual([[s.replaced.id, 'web01', 'Running', notes]]);
			await expect(fs.stat(nativeOf(s.host, session.plan.productionDir))).rejects.toThrow();

			// start, finalize: the production copy lands in the hostile location.
			proposal = await engine.proposeStart({ vm: 'web01', location });
			expect(proposal.problems).toEqual([]);
			session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			vms = await modelVms(s.host);
			const production = session.plan.disks[0]?.production as string;
			expect(vms.map((vm) => [vm.name, vm.state, vm.drives.map((drive) => drive.path)])).toEqual([['web01', 'Running', [production]]]);
			expect((await vhdxRecords(nativeOf(s.host, production)))[0]).toBe('installed by the backup');
			expect(await sha256(s.backup)).toBe(before);
			expect((await fs.stat(s.backup)).mode & 0o200).not.toBe(0);
		} finally {
			await hyperv.close();
		}
	}, 240_000);
});
if (pwsh === null) it.skip(`hostile values against the model: ${NO_PWSH}`, () => undefined);
