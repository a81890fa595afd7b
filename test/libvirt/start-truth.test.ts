// Step 4 on the libvirt host proves the domain runs: a guest that powers itself off right after
// its firmware hands over fails the step with its state, and is never reported running; the
// lab guest passes with a sign on its serial console.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { guestBackup, libvirtTestFile, planInput } from './support/fixtures.ts';

const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

// mov dx,0x604; mov ax,0x2000; out dx,ax (ACPI sleep type 0 + SLP_EN: power off, q35 PM base);
// mov dx,0xb004; out dx,ax (the same at the i440fx PM base); cli; hlt; jmp $-1.
const POWER_OFF = [0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef, 0xba, 0x04, 0xb0, 0xef, 0xfa, 0xf4, 0xeb, 0xfe];

async function bootCodeBackup(name: string, code: number[]): Promise<{ backup: string; virtualSize: number }> {
	const dir = path.join(libvirt.env.root, 'backups', name);
	await fs.mkdir(dir, { recursive: true });
	const raw = path.join(dir, 'disk0.raw');
	const image = Buffer.alloc(1024 * 1024);
	Buffer.from(code).copy(image, 0);
	image[510] = 0x55;
	image[511] = 0xaa;
	await fs.writeFile(raw, image);
	const backup = path.join(dir, 'disk0.qcow2');
	await execa('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, backup]);
	await fs.chmod(backup, 0o444);
	return { backup, virtualSize: image.length };
}

it.skipIf(unavailable)('a guest that powers off after it started fails step 4 with its state, and no domain is left running', async () => {
	const plan = await libvirt.env.host.plan(planInput('truth-off', 'poweroff01', libvirt.env.location, [await bootCodeBackup('poweroff01', POWER_OFF)]));
	await libvirt.env.host.createDisks(plan);
	await libvirt.env.host.createSnapshotLayer(plan);
	const failure = await libvirt.env.host.startVm(plan).then(
		() => null,
		(error: unknown) => error,
	);
	expect(failure).toMatchObject({ code: 'VM_DIED' });
	expect((failure as Error).message).toMatch(/did not stay running after it started: it is shut off/);
	const status = await libvirt.env.host.status(plan);
	expect(status.vm).not.toBe('running');
	await libvirt.env.host.discard(plan);
}, 120_000);

it.skipIf(unavailable)('the lab guest passes step 4 only once it showed a sign on its serial console', async () => {
	const backup = await guestBackup(path.join(libvirt.env.root, 'backups', 'web01'));
	const plan = await libvirt.env.host.plan(planInput('truth-ok', 'web01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
	await libvirt.env.host.createDisks(plan);
	await libvirt.env.host.createSnapshotLayer(plan);
	const note = await libvirt.env.host.startVm(plan);
	expect(note).toBeUndefined();
	expect((await libvirt.env.host.status(plan)).vm).toBe('running');
	await libvirt.env.host.discard(plan);
}, 120_000);
