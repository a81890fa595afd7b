// Thin wrappers over the qemu-img command line. Backups are only ever inspected here
// (info, measure) or named as a backing file: nothing in this module opens one for writing.
import { execa } from 'execa';

export const QEMU_IMG = 'qemu-img';
export const QEMU_SYSTEM = 'qemu-system-x86_64';

export interface ImageInfo {
	format: string;
	virtualSize: number;
	actualSize: number | null;
	backingFile: string | null;
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
		backingFile: typeof parsed['backing-filename'] === 'string' ? parsed['backing-filename'] : null,
	};
}

/** Bytes a qcow2 copy of `file` needs (`required` of qemu-img measure). */
export async function measureQcow2(file: string, format: string): Promise<number> {
	const { stdout } = await execa(QEMU_IMG, ['measure', '--output=json', '-U', '-f', format, '-O', 'qcow2', file], { timeout: 60_000 });
	const parsed = JSON.parse(stdout) as { required?: number };
	if (typeof parsed.required !== 'number') throw new Error(`qemu-img measure ${file}: no "required" in ${stdout.slice(0, 200)}`);
	return parsed.required;
}

export async function createQcow2(file: string, virtualSize: number): Promise<void> {
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, String(virtualSize)], { timeout: 60_000 });
}

/** A qcow2 overlay over the backup; -u is not used, so qemu-img checks the backing opens (read-only). */
export async function createOverlay(file: string, backing: string, backingFormat: string): Promise<void> {
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFormat, file], { timeout: 60_000 });
}

/** "7.2.22" — the first line of `qemu-system-x86_64 --version`. */
export async function qemuVersion(): Promise<string> {
	const { stdout } = await execa(QEMU_SYSTEM, ['--version'], { timeout: 10_000 });
	const match = /version (\d+\.\d+\.\d+)/.exec(stdout);
	return match?.[1] ?? stdout.split('\n')[0] ?? 'unknown';
}
