// `rundirect backup` against the Hyper-V model through the driver's backup(): a checkpoint
// freezes the disk, the detached copy worker copies the frozen VHDX (real bytes) into the
// destination, the checkpoint goes, and the restore point the catalog reads restores again (under
// a new name beside the original: a new VM Id and MAC, as review point 2 asks of such a restore).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../../source/catalog/catalog.ts';
import { Engine } from '../../source/restore/engine.ts';
import { createModelHost, modelDriver, modelVhdx, modelVms, seedVm, vhdxMeta, vhdxRecords } from './model/harness.ts';
import { nativeOf, sha256 } from './model/scenario.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';

const pwsh = findPwsh();
let root: string;
beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-backup-model-'));
});
afterAll(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

describe.skipIf(pwsh === null)('rundirect backup against the model (real pwsh)', () => {
	it('copies the frozen disk, removes the checkpoint, writes a restore point the catalog accepts, which restores under a new name', async () => {
		const host = await createModelHost(path.join(root, 'host'));
		const disk = 'D:\\Hyper-V\\Virtual Hard Disks\\db01.vhdx';
		await fs.writeFile(nativeOf(host, disk), modelVhdx({ diskIdentifier: 'DB01DB01-0000-4000-8000-000000000001', records: ['db01 data'] }));
		const original = await sha256(nativeOf(host, disk));
		const vm = await seedVm(host, { name: 'db01', state: 'Running', disk });
		const destination = path.join(root, 'destination');
		const hyperv = modelDriver(pwsh as string, host);
		try {
			const result = await hyperv.backup('db01', destination);
			expect(result.dir).toBe(path.join(destination, 'db01', result.pointId));
			const catalog = await readCatalog(destination);
			expect(catalog.problems).toEqual([]);
			expect(catalog.points.map((point) => point.manifest.vm)).toMatchObject([{ name: 'db01', id: String(vm.id).toLowerCase(), generation: 2, firmware: 'uefi', secureBoot: true, secureBootTemplate: 'MicrosoftWindows', cpus: 2, memoryMiB: 2048, nics: [{ switch: 'LAN', mac: '00:15:5D:0A:0B:0C', vlan: null }] }]);
			// The copy is the frozen disk byte for byte; the VM is back on its own disk, no checkpoint left.
			const copy = path.join(result.dir, 'disk0.vhdx');
			expect(await sha256(copy)).toBe(original);
			expect((await vhdxMeta(copy)).diskIdentifier).toBe('DB01DB01-0000-4000-8000-000000000001');
			expect((await fs.readdir(result.dir)).sort()).toEqual(['config', 'disk0.vhdx', 'restore-point.json']);
			// The VM's configuration and guest state, exported without disks, for a restore that keeps its identity.
			const configName = `${String(vm.id).toUpperCase()}`;
			expect((await fs.readdir(path.join(result.dir, 'config', 'Virtual Machines'))).sort()).toEqual([`${configName}.vmcx`, `${configName}.vmgs`]);
			expect(catalog.points[0]?.configFile).toBe(path.join(result.dir, 'config', 'Virtual Machines', `${configName}.vmcx`));
			const [after] = await modelVms(host);
			expect(after).toMatchObject({ name: 'db01', state: 'Running', snapshots: [] });
			expect(after?.drives.map((drive) => drive.path)).toEqual([disk]);
			expect((await vhdxRecords(nativeOf(host, disk)))[0]).toBe('db01 data');

			// The restore point restores: under a new name beside the original.
			const engine = new Engine({ host: hyperv, stateDir: path.join(root, 'state'), destination });
			const proposal = await engine.proposeStart({ vm: 'db01', name: 'db01-copy' });
			expect(proposal.problems).toEqual([]);
			const session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			expect((await engine.runPhase(session.id, 'finalize')).state).toBe('finalized');
			const vms = await modelVms(host);
			expect(vms.map((entry) => [entry.name, entry.state]).sort()).toEqual([['db01', 'Running'], ['db01-copy', 'Running']]);
			const restored = vms.find((entry) => entry.name === 'db01-copy');
			// Beside the original it runs as another machine: a new Id, and not the original's static MAC.
			expect(restored?.id).not.toBe(vm.id);
			expect(restored?.adapters).toMatchObject([{ switchName: 'LAN', dynamicMac: true }]);
			expect((restored?.adapters?.[0] as { mac: string }).mac).not.toBe('00155D0A0B0C');
			expect((await vhdxRecords(nativeOf(host, restored?.drives[0]?.path as string)))[0]).toBe('db01 data');
		} finally {
			await hyperv.close();
		}
	}, 180_000);
});
if (pwsh === null) it.skip(`rundirect backup against the model: ${NO_PWSH}`, () => undefined);
