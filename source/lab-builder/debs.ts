// Fetches the Debian packages the lab guest is built from: `apt-get download` into a cache
// folder, `dpkg -x` into one folder per package. Nothing is installed on the machine and
// nothing needs root except the `apt-get update` that makes `apt-get download` work at all.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export type Progress = (message: string, fraction?: number) => void;

/** The meta-package that always depends on Debian's current cloud kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
export const GUEST_PACKAGES = ['busybox-static', 'syslinux', 'syslinux-common', 'mtools'] as const;

export interface UnpackedPackage {
	readonly name: string;
	readonly version: string;
	/** The .deb it came from (its file name carries name, version and architecture). */
	readonly deb: string;
	/** Where `dpkg -x` unpacked it. */
	readonly root: string;
}

export interface GuestPackages {
	readonly kernel: UnpackedPackage;
	readonly busybox: UnpackedPackage;
	readonly syslinux: UnpackedPackage;
	readonly syslinuxCommon: UnpackedPackage;
	readonly mtools: UnpackedPackage;
}

export interface DebCache {
	/** `<cache>/lab/debs` */
	readonly debs: string;
	/** `<cache>/lab/pkgs` */
	readonly pkgs: string;
}

export function debCache(labCache: string): DebCache {
	return { debs: path.join(labCache, 'debs'), pkgs: path.join(labCache, 'pkgs') };
}

const isRoot = (): boolean => process.getuid?.() === 0;

function updateHint(): string {
	return isRoot() ? 'run `apt-get update` and try again' : 'run `sudo apt-get update` (as root) and try again';
}

/** Only one automatic `apt-get update` per process: a second one would not find more. */
let updatedThisProcess = false;

async function aptUpdateOnce(onProgress: Progress): Promise<boolean> {
	if (!isRoot() || updatedThisProcess) return false;
	updatedThisProcess = true;
	onProgress('Package lists are missing or stale: running apt-get update');
	const result = await execa('apt-get', ['update'], { reject: false, stdin: 'ignore' });
	return result.exitCode === 0;
}

/** `linux-image-cloud-amd64` → `linux-image-6.1.0-56-cloud-amd64` (whatever is current). */
async function resolveKernelPackage(cache: DebCache, onProgress: Progress): Promise<string> {
	for (let attempt = 0; attempt < 2; attempt++) {
		const result = await execa('apt-cache', ['depends', KERNEL_META_PACKAGE], { reject: false, stdin: 'ignore' });
		const match = /^\s*Depends:\s*(linux-image-\S+-cloud-amd64)\s*$/m.exec(result.stdout ?? '');
		if (result.exitCode === 0 && match?.[1]) return match[1];
		if (attempt === 0 && (await aptUpdateOnce(onProgress))) continue;
		// Offline or not Debian: a kernel downloaded earlier is still a working kernel.
		const cached = (await listDebs(cache.debs)).filter((file) => /^linux-image-.+-cloud-amd64_/.test(file)).sort();
		const newest = cached.at(-1);
		if (newest) return newest.split('_')[0] as string;
		throw new Error(
			`Cannot resolve ${KERNEL_META_PACKAGE} to a kernel package (apt-cache depends: ${firstLine(result.stderr) || 'no Depends line'}): ${updateHint()}`,
		);
	}
	throw new Error('unreachable');
}

function firstLine(text: string | undefined): string {
	return (text ?? '').split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}

async function listDebs(dir: string): Promise<string[]> {
	try {
		return (await fs.readdir(dir)).filter((file) => file.endsWith('.deb'));
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
		throw error;
	}
}

/** Newest cached .deb of a package; apt names them `<name>_<version>_<arch>.deb`. */
async function cachedDeb(dir: string, name: string): Promise<string | null> {
	const matches = (await listDebs(dir)).filter((file) => file.split('_')[0] === name);
	if (matches.length === 0) return null;
	if (matches.length === 1) return matches[0] as string;
	// Several versions (an update arrived): let dpkg order them, it knows Debian versions.
	let newest = matches[0] as string;
	for (const candidate of matches.slice(1)) {
		const result = await execa('dpkg', ['--compare-versions', debVersion(candidate), 'gt', debVersion(newest)], { reject: false });
		if (result.exitCode === 0) newest = candidate;
	}
	return newest;
}

function debVersion(file: string): string {
	// apt escapes the epoch colon as %3a in file names.
	return decodeURIComponent(file.split('_')[1] ?? '');
}

async function download(cache: DebCache, name: string, onProgress: Progress): Promise<string> {
	for (let attempt = 0; attempt < 2; attempt++) {
		// apt-get writes into the current directory; as root it warns that the _apt sandbox
		// cannot reach it, which is harmless here.
		const result = await execa('apt-get', ['download', '-q', name], { cwd: cache.debs, reject: false, stdin: 'ignore' });
		const deb = await cachedDeb(cache.debs, name);
		if (result.exitCode === 0 && deb) return deb;
		const reason = firstLine(result.stderr?.split('\n').filter((line) => line.startsWith('E:')).join('\n')) || firstLine(result.stderr);
		const nothingFound = /Unable to locate package|has no installation candidate|Can't select candidate|no candidate/i.test(result.stderr ?? '');
		if (attempt === 0 && nothingFound && (await aptUpdateOnce(onProgress))) continue;
		if (nothingFound) throw new Error(`apt-get download ${name} found nothing (${reason}): ${updateHint()}`);
		throw new Error(`apt-get download ${name} failed: ${reason || `exit code ${result.exitCode}`}`);
	}
	throw new Error('unreachable');
}

/** Unpacks once per .deb: a marker file names the .deb the folder was unpacked from. */
async function unpack(cache: DebCache, name: string, deb: string): Promise<string> {
	const root = path.join(cache.pkgs, name);
	const marker = path.join(root, '.rundirect-deb');
	const current = await fs.readFile(marker, 'utf8').catch(() => null);
	if (current === deb) return root;
	// Unpack beside the target and swap it in, so an interrupted unpack never looks complete.
	const staging = `${root}.partial-${process.pid}`;
	await fs.rm(staging, { recursive: true, force: true });
	await fs.mkdir(staging, { recursive: true });
	await execa('dpkg', ['-x', path.join(cache.debs, deb), staging], { stdin: 'ignore' });
	await fs.writeFile(path.join(staging, '.rundirect-deb'), deb);
	await fs.rm(root, { recursive: true, force: true });
	await fs.rename(staging, root);
	return root;
}

async function fetchOne(cache: DebCache, name: string, onProgress: Progress): Promise<UnpackedPackage> {
	let deb = await cachedDeb(cache.debs, name);
	if (!deb) {
		onProgress(`Downloading ${name}`);
		deb = await download(cache, name, onProgress);
	}
	const root = await unpack(cache, name, deb);
	return { name, version: debVersion(deb), deb, root };
}

/**
 * Downloads (unless cached) and unpacks the kernel, busybox, syslinux and mtools packages.
 * The kernel is resolved through the meta-package each time, so a Debian kernel update is
 * picked up; the other packages are reused from the cache once downloaded.
 */
export async function fetchGuestPackages(labCache: string, onProgress: Progress = () => {}): Promise<GuestPackages> {
	const cache = debCache(labCache);
	await fs.mkdir(cache.debs, { recursive: true });
	await fs.mkdir(cache.pkgs, { recursive: true });
	const kernelName = await resolveKernelPackage(cache, onProgress);
	const names = [kernelName, ...GUEST_PACKAGES];
	const fetched: UnpackedPackage[] = [];
	for (const [index, name] of names.entries()) {
		onProgress(`Package ${name}`, index / names.length);
		fetched.push(await fetchOne(cache, name, onProgress));
	}
	onProgress('Packages ready', 1);
	const [kernel, busybox, syslinux, syslinuxCommon, mtools] = fetched as [UnpackedPackage, UnpackedPackage, UnpackedPackage, UnpackedPackage, UnpackedPackage];
	return { kernel, busybox, syslinux, syslinuxCommon, mtools };
}
