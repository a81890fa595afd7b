// Thin wrappers over the qemu-img command line, shared by the drivers that run QEMU (lab,
// libvirt) and the lab builder. Backups are only ever inspected here (info, check, measure),
// named as a backing file or read by a conversion: nothing in this module opens one for writing.
// The images it creates hold guest data: each is created 0600 first (qemu-img keeps an existing
// file's mode) and set 0600 again after, never left to the umask.
import { execa } from 'execa';
import { HostError } from '../core/errors.ts';
import { createPrivateFile, makePrivate } from '../core/private-files.ts';

export const QEMU_IMG = 'qemu-img';
export const QEMU_SYSTEM = 'qemu-system-x86_64';

export interface ImageInfo {
	format: string;
	virtualSize: number;
	actualSize: number | null;
	/** The backing file as recorded in the image (relative to the image's folder when not absolute). */
	backing: string | null;
	/** A qcow2 image's external data file, when it has one. */
	dataFile: string | null;
}

/** `qemu-img info` with -U (force-share): a running QEMU may hold the image, and we only read metadata. */
export async function imageInfo(file: string, options: { format?: string } = {}): Promise<ImageInfo> {
	const args = ['info', '--output=json', '-U'];
	if (options.format) args.push('-f', options.format);
	args.push(file);
	const { stdout } = await execa(QEMU_IMG, args, { timeout: 30_000 });
	const parsed = JSON.parse(stdout) as Record<string, unknown>;
	return {
		format: String(parsed.format),
		virtualSize: Number(parsed['virtual-size']),
		actualSize: typeof parsed['actual-size'] === 'number' ? parsed['actual-size'] : null,
		backing: typeof parsed['backing-filename'] === 'string' ? parsed['backing-filename'] : null,
		dataFile: dataFileOf(parsed),
	};
}

function dataFileOf(parsed: Record<string, unknown>): string | null {
	const specific = parsed['format-specific'] as { data?: { 'data-file'?: unknown } } | undefined;
	const dataFile = specific?.data?.['data-file'];
	return typeof dataFile === 'string' ? dataFile : null;
}

export interface ImageCheck {
	/** Corruptions and errors `qemu-img check` found (0 for a sound image); leaks are not counted. */
	errors: number;
	/** What qemu-img said when it could not check the image at all. */
	failure: string | null;
}

/**
 * `qemu-img check` without -r: reads every metadata table (read-only, -U) and counts what
 * points outside the file or contradicts itself, as a truncated or partly copied image does.
 */
export async function checkImage(file: string, format: string): Promise<ImageCheck> {
	const result = await execa(QEMU_IMG, ['check', '--output=json', '-U', '-f', format, file], { reject: false, timeout: 120_000 });
	// Exit codes: 0 sound, 2 corrupted, 3 leaked clusters only, 63 format cannot be checked, 1 check failed.
	if (result.exitCode === 63) return { errors: 0, failure: null };
	let parsed: { corruptions?: number; 'check-errors'?: number } | null;
	try {
		parsed = JSON.parse(String(result.stdout)) as { corruptions?: number; 'check-errors'?: number };
	} catch {
		parsed = null;
	}
	if (!parsed || result.exitCode === 1) {
		const lines = String(result.stderr).trim().split('\n');
		return { errors: 0, failure: (lines.slice(-3).join(' ') || result.shortMessage || 'qemu-img check failed').trim() };
	}
	return { errors: (parsed.corruptions ?? 0) + (parsed['check-errors'] ?? 0), failure: null };
}

/** Bytes a qcow2 copy of `file` needs (`required` of qemu-img measure). */
export async function measureQcow2(file: string, format: string): Promise<number> {
	const { stdout } = await execa(QEMU_IMG, ['measure', '--output=json', '-U', '-f', format, '-O', 'qcow2', file], { timeout: 60_000 });
	const parsed = JSON.parse(stdout) as { required?: number };
	if (typeof parsed.required !== 'number') throw new HostError('MEASURE_FAILED', `qemu-img measure ${file}: no "required" in ${stdout.slice(0, 200)}`);
	return parsed.required;
}

export async function createQcow2(file: string, virtualSize: number): Promise<void> {
	await createPrivateFile(file);
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, String(virtualSize)], { timeout: 60_000 });
	await makePrivate(file);
}

/** A qcow2 overlay over the backup; -u is not used, so qemu-img checks the backing opens (read-only). */
export async function createOverlay(file: string, backing: string, backingFormat: string): Promise<void> {
	await createPrivateFile(file);
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFormat, file], { timeout: 60_000 });
	await makePrivate(file);
}

/** A conversion (the lab build's images); the source is opened read-only. */
export async function convertImage(from: string, fromFormat: string, to: string, toFormat: 'qcow2' | 'vhdx' | 'raw'): Promise<void> {
	// A dynamic VHDX stays as small as the data in it, like a qcow2.
	const options = toFormat === 'vhdx' ? ['-o', 'subformat=dynamic'] : [];
	await execa(QEMU_IMG, ['convert', '-f', fromFormat, '-O', toFormat, ...options, from, to], { stdin: 'ignore' });
}

/** "7.2.22" — the first line of `qemu-system-x86_64 --version`. */
export async function qemuVersion(): Promise<string> {
	const { stdout } = await execa(QEMU_SYSTEM, ['--version'], { timeout: 10_000 });
	const match = /version (\d+\.\d+\.\d+)/.exec(stdout);
	return match?.[1] ?? stdout.split('\n')[0] ?? 'unknown';
}
