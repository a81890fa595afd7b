// The initrd's kernel modules come from the cached Debian kernel package.
import { describe, expect, it } from 'vitest';
import { fetchGuestPackages } from '../../source/lab-builder/debs.ts';
import { collectModules } from '../../source/lab-builder/initrd.ts';
import { labPaths } from '../../source/core/paths.ts';
import { testPaths, removeTree } from './helpers.ts';

describe('collectModules', () => {
	it('orders the virtio and FAT modules after their dependencies', async () => {
		const { root, paths } = await testPaths();
		try {
			const packages = await fetchGuestPackages(labPaths(paths).cache);
			const { release, modules } = await collectModules(packages.kernel.root);
			expect(release).toMatch(/-cloud-amd64$/);
			const at = (name: string): number => modules.order.indexOf(name);
			for (const name of ['virtio', 'virtio_ring', 'virtio_pci', 'virtio_blk', 'fat', 'vfat', 'nls_ascii']) expect(at(name), name).toBeGreaterThanOrEqual(0);
			expect(at('virtio_ring')).toBeLessThan(at('virtio_blk'));
			expect(at('virtio')).toBeLessThan(at('virtio_pci'));
			expect(at('fat')).toBeLessThan(at('vfat'));
			for (const name of modules.order) {
				// Uncompressed ELF objects: insmod in busybox cannot read .ko.xz.
				expect(modules.files.get(name)?.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
			}
		} finally {
			await removeTree(root);
		}
	});
});
