import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeCpio } from '../../source/lab-builder/cpio.ts';
import { findOnPath } from '../../source/core/files.ts';

describe('writeCpio', () => {
	const archive = writeCpio([
		{ name: 'bin', type: 'dir' },
		{ name: 'bin/tool', type: 'file', mode: 0o755, data: 'hello\n' },
		{ name: 'bin/sh', type: 'symlink', data: 'tool' },
		{ name: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 },
	]);

	it('writes newc records padded to 4 bytes and a trailer', () => {
		expect(archive.subarray(0, 6).toString()).toBe('070701');
		expect(archive.length % 4).toBe(0);
		expect(archive.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
	});

	it('is read back by the cpio command when present', async (context) => {
		if (!(await findOnPath('cpio'))) context.skip();
		const listing = await execa('cpio', ['-itv', '--quiet'], { input: archive });
		expect(listing.stdout).toMatch(/^drwxr-xr-x .* bin$/m);
		expect(listing.stdout).toMatch(/^-rwxr-xr-x .* 6 .* bin\/tool$/m);
		expect(listing.stdout).toMatch(/^lrwxrwxrwx .* bin\/sh -> tool$/m);
		expect(listing.stdout).toMatch(/^crw------- .* 5,\s+1 .* dev\/console$/m);
	});
});
