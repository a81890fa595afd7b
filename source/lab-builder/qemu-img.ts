// Converting images for the lab build (reading them is the driver's imageInfo).
import { execa } from 'execa';

export async function convertImage(from: string, fromFormat: string, to: string, toFormat: 'qcow2' | 'vhdx'): Promise<void> {
	// A dynamic VHDX stays as small as the data in it, like a qcow2.
	const options = toFormat === 'vhdx' ? ['-o', 'subformat=dynamic'] : [];
	await execa('qemu-img', ['convert', '-f', fromFormat, '-O', toFormat, ...options, from, to], { stdin: 'ignore' });
}
