// Guest data on the libvirt host is private like on the lab host (files 0600, folders 0700),
// with one party more: QEMU, which libvirt may run as its own account (libvirt-qemu on Debian).
// libvirt's DAC driver hands the disk images themselves to that account when the domain starts
// (it chowns them; the 0600 mode stays), but it does not touch folders: a folder QEMU must pass
// through to reach an overlay or a production image is given to QEMU's account (root can), or
// failing that to its group with traverse only (0710) — never opened to everyone. The account is
// read from the host's capabilities (the DAC security model's base label, `+uid:+gid`).
import fs from 'node:fs/promises';
import path from 'node:path';
import { EXIT, HostError } from '../../core/errors.ts';
import { PRIVATE_DIR } from '../../core/private-files.ts';
import { childOf, childrenOf, parseXml } from '../../catalog/xml.ts';
import type { Virsh } from './virsh.ts';

export interface QemuAccount {
	uid: number;
	gid: number;
}

/** Folders QEMU only passes through when it has its group but not its user. */
const GROUP_TRAVERSE_DIR = 0o710;

/**
 * QEMU's account from `virsh capabilities`: the DAC model's base label for the domain type the
 * driver uses (`kvm`, or `qemu` under TCG). Null when the host has no DAC model (QEMU then runs
 * as libvirtd itself) or names no numeric label.
 */
export function qemuAccountOf(capabilitiesXml: string, domainType: string): QemuAccount | null {
	const dac = childrenOf(childOf(parseXml(capabilitiesXml), 'host'), 'secmodel').find((model) => childOf(model, 'model')?.text.trim() === 'dac');
	if (!dac) return null;
	const labels = childrenOf(dac, 'baselabel');
	const label = (labels.find((entry) => entry.attributes.type === domainType) ?? labels[0])?.text.trim() ?? '';
	const match = /^\+?(\d+):\+?(\d+)$/.exec(label);
	return match ? { uid: Number(match[1]), gid: Number(match[2]) } : null;
}

export async function qemuAccount(virsh: Virsh, domainType: string): Promise<QemuAccount | null> {
	const result = await virsh.tryRun(['capabilities']);
	if (!result.ok) throw new HostError('LIBVIRT_CAPABILITIES', `virsh capabilities failed: ${result.stderr}`);
	return qemuAccountOf(result.stdout, domainType);
}

/** The folders `mkdir -p dir` would create, outermost first. */
async function missingFolders(dir: string): Promise<string[]> {
	const missing: string[] = [];
	for (let folder = path.resolve(dir); ; folder = path.dirname(folder)) {
		if (await fs.stat(folder).then(() => true, () => false)) break;
		missing.unshift(folder);
		if (path.dirname(folder) === folder) break;
	}
	return missing;
}

/**
 * A folder QEMU reaches files through. Every folder this creates, and every folder from `from`
 * (one of rundirect's own, e.g. the layout's state folder) down to `dir`, is 0700 and — when QEMU
 * runs as another account — QEMU's: owned by it if this process may give it away (root), else its
 * group with traverse only. The mode is set, not left to the umask; folders above `from` that
 * existed before are not rundirect's and are left as they are.
 */
export async function mkdirForQemu(dir: string, qemu: QemuAccount | null, from: string = dir): Promise<void> {
	const created = await missingFolders(dir);
	await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
	const target = path.resolve(dir);
	const owned: string[] = [];
	for (let folder = target; ; folder = path.dirname(folder)) {
		owned.unshift(folder);
		if (folder === path.resolve(from) || path.dirname(folder) === folder) break;
	}
	// `from` not above `dir`: only the folders this call made, and `dir`.
	const chain = owned[0] === path.resolve(from) ? owned : [target];
	for (const folder of new Set([...created, ...chain])) await shareWithQemu(folder, qemu);
}

async function shareWithQemu(folder: string, qemu: QemuAccount | null): Promise<void> {
	const self = process.getuid?.();
	if (!qemu || self === undefined || qemu.uid === self) {
		await fs.chmod(folder, PRIVATE_DIR);
		return;
	}
	if (self === 0) {
		await fs.chown(folder, qemu.uid, qemu.gid);
		await fs.chmod(folder, PRIVATE_DIR);
		return;
	}
	// Not root: only a group this user is in can be given (chown(2)'s rule).
	try {
		await fs.chown(folder, self, qemu.gid);
	} catch (error) {
		throw new HostError(
			'QEMU_CANNOT_REACH',
			`QEMU runs as uid ${qemu.uid} (gid ${qemu.gid}) and must reach ${folder}, which rundirect keeps private: it could not give the folder to QEMU's group (${(error as Error).message})`,
			EXIT.failed,
			`run rundirect as root, or as a member of group ${qemu.gid}`,
		);
	}
	await fs.chmod(folder, GROUP_TRAVERSE_DIR);
}
