// The few qemu-img calls the lab build needs.
import { execa } from 'execa';

export async function convertImage(from: string, fromFormat: string, to: string, toFormat: 'qcow2' | 'vhdx'): Promise<void> {
	// A dynamic VHDX stays as small as the data in it, like a qcow2.
	const options = toFormat === 'vhdx' ? ['-o', 'subformat=dynamic'] : [];
	await execa('qemu-img', ['convert', '-f', fromFormat, '-O', toFormat, ...options, from, to], { stdin: 'ignore' });
}

export interface ImageInfo {
	virtualSize: number;
	format: string;
	/** The backing file as recorded in the image, if any. */
	backing: string | null;
}

/** `-U`: the image may be open in a running QEMU; info only reads it. */
export async function imageInfo(file: string): Promise<ImageInfo> {
	const result = await execa('qemu-img', ['info', '-U', '--output=json', file], { stdin: 'ignore' });
	// qemu-img's JSON: only the fields read here are typed.
	const info = JSON.parse(result.stdout) as { 'virtual-size': number; format: string; 'full-backing-filename'?: string; 'backing-filename'?: string };
	return { virtualSize: info['virtual-size'], format: info.format, backing: info['full-backing-filename'] ?? info['backing-filename'] ?? null };
}
