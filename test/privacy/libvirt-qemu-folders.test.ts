// Where libvirt runs QEMU as an account of its own, the folders of a session are given to that
// account and to no one else (issue 16): checked with real chown and real processes — uid 65534
// stands for QEMU's account and reaches a 0600 image it owns (as libvirt's DAC driver leaves
// it), while uid 65533 can list and read nothing. The account comes from `virsh capabilities`.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirForQemu, qemuAccountOf } from '../../source/hosts/libvirt/privacy.ts';
import { NOBODY } from './probe.ts';

const CAPABILITIES = `<capabilities><host><uuid>x</uuid>
<secmodel><model>none</model><doi>0</doi></secmodel>
<secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+994</baselabel><baselabel type='qemu'>+64056:+995</baselabel></secmodel>
</host></capabilities>`;

let root = '';
afterEach(async () => {
	if (root) await fs.rm(root, { recursive: true, force: true });
	root = '';
});

/** Runs `sh -c script` as `uid` (no groups) and reports its exit code. */
async function as(uid: number, script: string, ...args: string[]): Promise<number> {
	const result = await execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'sh', '-c', script, 'probe', ...args], { reject: false });
	return result.exitCode ?? -1;
}

describe("QEMU's account and its folders", () => {
	it('reads the DAC base label of the domain type from the capabilities', () => {
		expect(qemuAccountOf(CAPABILITIES, 'kvm')).toEqual({ uid: 64055, gid: 994 });
		expect(qemuAccountOf(CAPABILITIES, 'qemu')).toEqual({ uid: 64056, gid: 995 });
		expect(qemuAccountOf('<capabilities><host><secmodel><model>selinux</model></secmodel></host></capabilities>', 'kvm')).toBeNull();
		expect(qemuAccountOf("<capabilities><host><secmodel><model>dac</model><baselabel type='kvm'>libvirt-qemu:kvm</baselabel></secmodel></host></capabilities>", 'kvm')).toBeNull();
	});

	it.skipIf(process.getuid?.() !== 0)('gives every folder of the chain to QEMU (root gives it away), 0700; nobody else lists or reads', async () => {
		root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-qf-'));
		await fs.chmod(root, 0o755);
		const base = path.join(root, 'libvirt');
		// An earlier version's folder, left to the umask: part of rundirect's chain, so it is fixed too.
		await fs.mkdir(base, { mode: 0o755 });
		await fs.chmod(base, 0o755);
		const dir = path.join(base, 'work', 'session1');
		await mkdirForQemu(dir, { uid: NOBODY, gid: NOBODY }, base);
		for (const folder of [base, path.join(base, 'work'), dir]) {
			const stat = await fs.stat(folder);
			expect([stat.uid, stat.gid, (stat.mode & 0o7777).toString(8)], folder).toEqual([NOBODY, NOBODY, '700']);
		}
		expect((await fs.stat(root)).uid, 'a folder above the chain is not rundirect’s').toBe(0);
		// What libvirt's DAC driver does to the image when the domain starts: QEMU's, mode kept.
		const image = path.join(dir, 'disk0.overlay.qcow2');
		await fs.writeFile(image, 'guest data', { mode: 0o600 });
		await fs.chown(image, NOBODY, NOBODY);
		expect(await as(NOBODY, 'head -c 1 -- "$1" >/dev/null', image)).toBe(0);
		expect(await as(NOBODY - 1, 'head -c 1 -- "$1" >/dev/null 2>&1', image)).not.toBe(0);
		expect(await as(NOBODY - 1, 'ls -- "$1" >/dev/null 2>&1', base)).not.toBe(0);
	});

	it.skipIf(process.getuid?.() !== 0)('when QEMU runs as this user, the folders are simply 0700 and stay this user’s', async () => {
		root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-qf-'));
		const dir = path.join(root, 'a', 'b');
		await mkdirForQemu(dir, { uid: 0, gid: 0 });
		for (const folder of [path.join(root, 'a'), dir]) expect(((await fs.stat(folder)).mode & 0o7777).toString(8)).toBe('700');
		await mkdirForQemu(dir, null);
		expect(((await fs.stat(dir)).mode & 0o7777).toString(8)).toBe('700');
	});
});
