// The TypeScript side reads what Windows PowerShell 5.1 prints, not only what the tests' pwsh 7
// prints. The fixtures (fixtures/ps51/*.txt, CR LF as powershell.exe writes them) are written in
// the shapes 5.1's ConvertTo-Json is documented to produce:
// - a one-item array becomes the item: PowerShell/PowerShell#2448 and #11857 (5.1.14393);
// - an array with the ETS Count property becomes {"value":[…],"Count":n}: PowerShell/PowerShell#3153
//   and #5579 ("only affects Windows PowerShell at this point");
// - a DateTime becomes "\/Date(ms)\/": PowerShell/PowerShell#11126 (powershell.exe vs pwsh output);
// - an enum becomes its number: PowerShell/PowerShell#4318 (-EnumsAsStrings, added in 6.0, "Otherwise,
//   enum values will be converted to their numeric equivalent");
// - <, >, & and ' are escaped as \u003c, \u003e, \u0026, \u0027 (JavaScriptSerializer, which 5.1 uses).
// The same data as pwsh 7 prints it is read the same way.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { manifestFrom } from '../../source/hosts/hyperv/backup.ts';
import { mapVmState, parseEnvelope } from '../../source/hosts/hyperv/envelope.ts';
import { readCopy, readInventory, readPlanProbe, readPreflight, readVmStatus } from '../../source/hosts/hyperv/results.ts';
import { HypervError } from '../../source/hosts/hyperv/errors.ts';

function recorded(name: string): unknown {
	const envelope = parseEnvelope(fs.readFileSync(new URL(`./fixtures/ps51/${name}.txt`, import.meta.url), 'utf8'));
	if (!envelope.ok) throw new Error(`${name}: ${envelope.error.message}`);
	return envelope.data;
}

/** The same value as pwsh 7 prints it (arrays kept, dates ISO, enums as the script made them). */
function as7(value: unknown): unknown {
	return parseEnvelope(`RDENVELOPE ${JSON.stringify({ ok: true, data: value, error: null })}\n`).data;
}

describe('decoding Windows PowerShell 5.1 output', () => {
	it('inventory: one VM not wrapped in an array, its one disk not either, its state as a number', () => {
		const vms = readInventory(recorded('inventory-one-vm'));
		expect(vms).toEqual([{ name: 'web01', id: '3f1c9a2e-5d1b-4c8e-9f00-1a2b3c4d5e6f', state: 2, session: null, asideBy: null, disks: ['D:\\Hyper-V\\Virtual Hard Disks\\web01.vhdx'] }]);
		expect(mapVmState(vms[0]?.state)).toBe('running');
		expect(readInventory(as7({ vms: [{ ...vms[0], state: 'Running' }] }))).toEqual([{ ...vms[0], state: 'Running' }]);
	});

	it('plan probe: an array wrapped as {"value":[…],"Count":n}, names with 5.1\'s \\u0027 and \\u003c escapes', () => {
		const probe = readPlanProbe(recorded('plan-probe-wrapped'));
		expect(probe.macsInUse).toEqual([
			{ mac: '00155D010203', vm: 'web01' },
			{ mac: '00155D0A0B0C', vm: "db01 'prod' <main>" },
		]);
		expect(probe).toMatchObject({ replaces: 'web01', replacesSession: null, virtualHardDiskPath: 'D:\\Hyper-V\\Virtual Hard Disks' });
		expect(readPlanProbe(as7({ ...probe }))).toEqual(probe);
	});

	it('vm status: state 9 is Paused, runsOn a single string', () => {
		const status = readVmStatus(recorded('vm-status-paused'));
		expect(mapVmState(status.state)).toBe('paused');
		expect(status).toMatchObject({ heartbeat: { enabled: true, ok: true, status: 'Ok' }, bytesChanged: 4194304, runsOn: ['backup'] });
	});

	it('copy: one job not wrapped; 64-bit sizes exact', () => {
		expect(readCopy(recorded('copy-one-job'))).toEqual([{ target: 'D:\\VMs\\web01\\web01_disk0_20260101T0101-abcdef.vhdx', status: 'running', done: 2 ** 30, total: 64 * 2 ** 30, error: null }]);
	});

	it('preflight: one problem not wrapped, & escaped as \\u0026', () => {
		expect(readPreflight(recorded('preflight-one-problem'))).toEqual([{ code: 'SWITCH_NOT_FOUND', message: 'LAN, rundirect-drill', subject: 'Prod & Test' }]);
	});

	it('backup: one NIC and one disk not wrapped, the checkpoint time as \\/Date(ms)\\/', () => {
		const manifest = manifestFrom(recorded('backup-begin-one-disk'), '20260102-030405');
		expect(manifest.takenAt).toBe('2026-01-02T03:04:05.000Z');
		expect(manifest.vm).toMatchObject({ name: 'db01', id: '0a8f3f2e-8d55-4c55-9a4e-3f1f9ad2b0c1', cpus: 4, memoryMiB: 4096, nics: [{ switch: 'LAN', mac: '00:15:5D:01:02:03', vlan: 12 }] });
		expect(manifest.disks).toEqual([{ controller: 'scsi', controllerNumber: 0, location: 0, file: 'disk0.vhdx', format: 'vhdx', virtualSize: 64 * 2 ** 30 }]);
		// As pwsh 7 prints it: arrays kept, the time as the ISO string the script makes.
		const seven = as7({ ...(recorded('backup-begin-one-disk') as object), nics: [{ switch: 'LAN', mac: '00155D010203', vlan: 12 }], disks: [manifestDisk()], takenAt: '2026-01-02T03:04:05.0000000Z' });
		expect(manifestFrom(seven, '20260102-030405')).toEqual(manifest);
	});

	it('an error envelope: the message and the position 5.1 reports, with its CR LF', () => {
		const text = fs.readFileSync(new URL('./fixtures/ps51/error-envelope.txt', import.meta.url), 'utf8');
		const envelope = parseEnvelope(text);
		expect(envelope.ok).toBe(false);
		const error = HypervError.fromEnvelope((envelope as { error: Parameters<typeof HypervError.fromEnvelope>[0] }).error, 'hv01', 'apply-changes');
		expect(error.message).toMatch(/cannot be performed while the virtual machine is in its current state/);
	});
});

function manifestDisk() {
	return { path: 'D:\\VMs\\db01\\db01.vhdx', controller: 'SCSI', controllerNumber: 0, location: 0, format: 'VHDX', size: 64 * 2 ** 30 };
}
