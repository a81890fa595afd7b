// The few qemu-img calls this driver makes on the host's files (local URIs). Backups are only
// inspected (info, measure) or named as a read-only backing file here: nothing opens one for
// writing. (The lab driver has its own equivalents; drivers do not import each other.)
import { execa } from 'execa';

export const QEMU_IMG = 'qemu-img';

export interface ImageInfo {
	format: string;
	virtualSize: number;
	backingFile: string | null;
	dataFile: string | null;
}

/** `qemu-img info -U`: a running QEMU may hold the image, and only metadata is read. */
export async function imageInfo(file: string): Promise<ImageInfo> {
	const { stdout } = await execa(QEMU_IMG, ['info', '--output=json', '-U', file], { timeout: 30_000 });
	const parsed = JSON.parse(stdout) as Record<string, unknown>;
	const specific = parsed['format-specific'] as { data?: { 'data-file'?: unknown } } | undefined;
	return {
		format: String(parsed.format),
		virtualSize: Number(parsed['virtual-size']),
		backingFile: typeof parsed['backing-filename'] === 'string' ? parsed['backing-filename'] : null,
		dataFile: typeof specific?.data?.['data-file'] === 'string' ? specific.data['data-file'] : null,
	};
}

/** Bytes a qcow2 copy of `file` needs (`required` of qemu-img measure). */
export async function measureQcow2(file: string, format: string): Promise<number> {
	const { stdout } = await execa(QEMU_IMG, ['measure', '--output=json', '-U', '-f', format, '-O', 'qcow2', file], { timeout: 60_000 });
	const required = (JSON.parse(stdout) as { required?: unknown }).required;
	if (typeof required !== 'number') throw new Error(`qemu-img measure ${file}: no "required" in its answer`);
	return required;
}

export async function createQcow2(file: string, virtualSize: number): Promise<void> {
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', file, String(virtualSize)], { timeout: 60_000 });
}

/** A qcow2 overlay over the backup; without -u, so qemu-img checks the backing opens (read-only). */
export async function createOverlay(file: string, backing: string, backingFormat: string): Promise<void> {
	await execa(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFormat, file], { timeout: 60_000 });
}
