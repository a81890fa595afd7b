// The test infrastructure itself: a private libvirtd answers, survives a restart, and is
// ended by pid with everything it started.
import fs from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, libvirtUnavailable, startPrivateLibvirtd, type PrivateLibvirtd } from './support/libvirtd.ts';

const unavailable = await libvirtUnavailable();
if (unavailable) console.warn(`[libvirt] SKIPPED: ${unavailable}`);

let daemon: PrivateLibvirtd | undefined;

afterAll(async () => {
	await daemon?.stop();
});

describe.skipIf(unavailable !== null)('a private libvirtd for the tests', () => {
	it('answers on its own socket, restarts, and leaves nothing behind when stopped', async () => {
		daemon = await startPrivateLibvirtd();
		const version = await execa('virsh', ['--connect', daemon.uri, 'version']);
		expect(version.stdout).toMatch(/Running hypervisor: QEMU/);
		// Private: the machine's own socket is not what answered.
		await expect(fs.access('/run/libvirt/libvirt-sock')).rejects.toThrow();

		const before = await daemon.libvirtdPid();
		await daemon.restart();
		const after = await daemon.libvirtdPid();
		expect(after).not.toBeNull();
		expect(after).not.toBe(before);
		expect((await execa('virsh', ['--connect', daemon.uri, 'list', '--all'])).exitCode).toBe(0);

		const root = daemon.root;
		await daemon.stop();
		daemon = undefined;
		expect(await alive(after ?? 0)).toBe(false);
		await expect(fs.access(root)).rejects.toThrow();
	});
});
