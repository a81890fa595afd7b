// The lab host honours the restore point's hardware (issue 11): generation 1 = a PC with its
// disks on PIIX IDE and BIOS, virtio, SCSI, and generation 2 = q35 with UEFI. Each boots the
// lab guest from its backup and finalizes byte-exact; what the lab cannot provide is refused in
// pre-flight, naming the field.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DiskManifest, RestorePointManifest } from '../../source/catalog/schema.ts';
import { labPaths, resolvePaths } from '../../source/core/paths.ts';
import { LabHost } from '../../source/hosts/lab/driver.ts';
import { hardwareProblems } from '../../source/hosts/lab/hardware.ts';
import { launchArgs } from '../../source/hosts/lab/runtime.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { runningPid, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { ensureProbeGuestImage, readGuestFile, readGuestLog } from '../../source/lab-builder/guest.ts';
import { Engine } from '../../source/restore/engine.ts';
import { TEST_CACHE } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { destroyEnv, expectedBytes, makeBackup, makeEnv, MiB, rawBytes, sha256, type TestEnv, type Write } from './helpers.ts';

let env: TestEnv;
let host: LabHost;
let engine: Engine;
let destination: string;

beforeEach(async () => {
	env = await makeEnv();
	host = new LabHost({ paths: env.paths, accel: 'tcg' });
	destination = path.join(env.root, 'dest');
	engine = new Engine({ host, stateDir: env.paths.state, destination });
});

afterEach(async () => {
	await engine.close();
	await destroyEnv(env);
});

const DATA_SIZE = 4 * MiB;
const DATA_WRITES: Write[] = [{ pattern: 0x5a, offset: 0, length: MiB }];

/** A restore point: the lab guest as disk 0, a disk of known bytes as disk 1, each where `buses` says. */
async function restorePoint(vm: string, settings: Partial<RestorePointManifest['vm']>, buses: Array<Pick<DiskManifest, 'controller' | 'controllerNumber' | 'location'>>): Promise<{ backups: string[] }> {
	const dir = path.join(destination, vm, 'p1');
	await fs.mkdir(dir, { recursive: true });
	const guest = await ensureProbeGuestImage(labPaths(resolvePaths({ state: '/unused', data: '/unused', cache: path.join(TEST_CACHE, 'rundirect') })).cache);
	const disk0 = path.join(dir, 'disk0.qcow2');
	await execa('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', guest, disk0]);
	const size0 = (await fs.stat(guest)).size;
	await fs.chmod(disk0, 0o444);
	const disk1 = await makeBackup(dir, 'disk1', DATA_SIZE, DATA_WRITES);
	await writeManifest(dir, {
		vm: settings,
		disks: [
			{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: size0, ...buses[0] },
			{ file: 'disk1.qcow2', format: 'qcow2', virtualSize: DATA_SIZE, ...buses[1] },
		],
	});
	return { backups: [disk0, disk1] };
}

async function waitForMarker(serialFile: string, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if ((await fs.readFile(serialFile, 'latin1').catch(() => '')).includes(GUEST_MARKER)) return;
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	throw new Error(`no ${GUEST_MARKER} within ${timeoutMs} ms: ${(await fs.readFile(serialFile, 'latin1').catch(() => '')).slice(-2000)}`);
}

const CASES = [
	{ name: 'generation 1, IDE, BIOS', vm: 'ide01', settings: { generation: 1 as const, firmware: 'bios' as const }, buses: [{ controller: 'ide' as const, controllerNumber: 0, location: 0 }, { controller: 'ide' as const, controllerNumber: 1, location: 1 }], device: 'ide-hd', qdev: '/machine/peripheral/vd1' },
	{ name: 'generation 1, virtio, BIOS', vm: 'vio01', settings: { generation: 1 as const, firmware: 'bios' as const }, buses: [{ controller: 'virtio' as const, controllerNumber: 0, location: 0 }, { controller: 'virtio' as const, controllerNumber: 0, location: 1 }], device: 'virtio-blk-pci', qdev: '/machine/peripheral/vd1/virtio-backend' },
	{ name: 'generation 2, SCSI, UEFI', vm: 'uefi01', settings: { generation: 2 as const, firmware: 'uefi' as const, memoryMiB: 256, nics: [{ switch: 'LAN', mac: '00:15:5D:01:02:03', vlan: null }] }, buses: [{ controller: 'scsi' as const, controllerNumber: 0, location: 0 }, { controller: 'scsi' as const, controllerNumber: 0, location: 5 }], device: 'scsi-hd', qdev: '/machine/peripheral/vd1' },
];

describe.each(CASES)('$name', ({ vm, settings, buses, device, qdev }) => {
	it('boots the lab guest from its backup and finalizes byte-exact', async () => {
		const { backups } = await restorePoint(vm, settings, buses);
		const sums = await Promise.all(backups.map((file) => sha256(file)));
		const proposal = await engine.proposeStart({ vm });
		expect(proposal.problems).toEqual([]);
		const session = await engine.beginStart(proposal);
		const began = Date.now();
		await engine.runPhase(session.id, 'start');
		const files = runtimeFiles(labPaths(env.paths).run, vm);
		await waitForMarker(files.serialFile, 90_000);
		console.log(`[measure] ${vm}: start to guest marker ${Date.now() - began} ms`);

		const argv = (await fs.readFile(`/proc/${(await runningPid(files))!}/cmdline`, 'utf8')).split('\0');
		expect(argv.join(' ')).toContain(device);
		expect(argv[argv.indexOf('-machine') + 1]).toMatch(settings.generation === 1 ? /^pc\b/ : /^q35,pflash0=fw-code,pflash1=fw-vars/);
		if (settings.firmware === 'uefi') {
			// The VM's own variable store, kept with its production disks.
			expect(await fs.stat(path.join(session.plan.productionDir, 'efivars.fd')).then((stat) => stat.size)).toBeGreaterThan(0);
			expect(argv.join(' ')).toContain('mac=00:15:5d:01:02:03');
		}

		// A write as the guest's disk controller makes it, on the data disk, while it runs from the backup.
		const guestWrite: Write = { pattern: 0xc3, offset: 2 * MiB, length: 64 * 1024 };
		const qmp = await host.qmp(vm);
		const out = await qmp!.execute<string>('human-monitor-command', { 'command-line': `qemu-io -d ${qdev} "write -P 0x${guestWrite.pattern.toString(16)} ${guestWrite.offset} ${guestWrite.length}"` });
		expect(out).not.toMatch(/error|fail/i);
		await host.close();

		await engine.runPhase(session.id, 'finalize');
		const ticksBefore = (await fs.readFile(files.serialFile, 'latin1')).match(/rundirect-tick \d+/g)?.length ?? 0;
		const after = await host.qmp(vm);
		await after!.execute('quit').catch(() => undefined);
		for (let i = 0; i < 100 && (await runningPid(files)) !== null; i++) await new Promise((resolve) => setTimeout(resolve, 50));

		const [prod0, prod1] = session.plan.disks.map((disk) => disk.production) as [string, string];
		expect((await rawBytes(prod1)).equals(expectedBytes(DATA_SIZE, [...DATA_WRITES, guestWrite]))).toBe(true);
		// The guest disk: its files are the backup's, and the ticks it wrote (while on the backup, then on production) are there.
		for (const name of ['vmlinuz', 'initrd.gz']) expect(await readGuestFile(prod0, 'qcow2', name)).toBe(await readGuestFile(backups[0]!, 'qcow2', name));
		expect((await readGuestLog(prod0, 'qcow2')).match(/^tick /gm)?.length ?? 0).toBeGreaterThanOrEqual(Math.max(1, ticksBefore - 2));
		expect(await Promise.all(backups.map((file) => sha256(file)))).toEqual(sums);
		for (const prod of [prod0, prod1]) expect((await execa('qemu-img', ['check', '-q', prod])).exitCode).toBe(0);
	});
});

describe('hardware the lab cannot provide', () => {
	it('is refused in pre-flight, naming the field', async () => {
		await restorePoint('gen2ide', { generation: 2, firmware: 'uefi' }, [{ controller: 'ide', controllerNumber: 0, location: 0 }, { controller: 'scsi', controllerNumber: 0, location: 1 }]);
		const proposal = await engine.proposeStart({ vm: 'gen2ide' });
		expect(proposal.problems).toEqual([expect.stringMatching(/disks\[0\]\.controller: a generation 2 VM has no IDE controller/)]);

		const settings = { generation: 1 as const, firmware: 'uefi' as const, secureBoot: true, secureBootTemplate: 'OpenSourceShieldedVM', cpus: 1, memoryMiB: 2 ** 30, nics: [] };
		const problems = hardwareProblems(settings, [{ index: 0, controller: 'ide', controllerNumber: 2, location: 0 }, { index: 1, controller: 'ide', controllerNumber: 0, location: 3 }]);
		for (const field of ['vm.firmware', 'vm.secureBootTemplate', 'vm.memoryMiB', 'disks[0].controllerNumber', 'disks[1].location']) {
			expect(problems).toContainEqual(expect.stringContaining(`restore point's ${field}:`));
		}
	});

	it('Secure Boot asks for the Microsoft-keys OVMF build with SMM', () => {
		const args = launchArgs(
			{
				name: 'sb',
				memoryMiB: 256,
				accel: 'tcg',
				network: 'isolated',
				hardware: { machine: 'q35', firmware: 'uefi', secureBoot: true, firmwareVars: '/x/efivars.fd', cpus: 2, disks: [{ controller: 'scsi', controllerNumber: 1, location: 3 }], macs: [null] },
				disks: [{ index: 0, kind: 'production', path: '/x/disk0.qcow2', format: 'qcow2' }],
			},
			{ key: 'k', pidFile: '/r/k.pid', serialFile: '/r/k.serial', qmpSocket: '/r/k.qmp', qgaSocket: '/r/k.qga' },
		);
		const line = args.join(' ');
		expect(args[args.indexOf('-machine') + 1]).toBe('q35,pflash0=fw-code,pflash1=fw-vars,smm=on');
		expect(line).toContain('OVMF_CODE_4M.ms.fd');
		expect(line).toContain('driver=cfi.pflash01,property=secure,value=on');
		expect(line).toContain('-smp 2');
		expect(line).toContain('virtio-scsi-pci,id=scsi1');
		expect(line).toContain('scsi-hd,drive=prod0,id=vd0,bootindex=0,bus=scsi1.0,channel=0,scsi-id=3,lun=0');
		// A drill's NIC reaches nothing outside the VM.
		expect(line).toContain('user,id=net0,restrict=on');
		// Every VM has the guest agent's port, as libvirt gives a domain.
		expect(line).toContain('socket,id=qga0,path=/r/k.qga,server=on,wait=off');
		expect(line).toContain('virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0');
	});
});
