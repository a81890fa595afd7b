// The one place that names the drivers: turns `--host` into a Host — `lab` (QEMU/KVM, the
// default where there is no Hyper-V), `hyperv` / `hyperv://<server>`, or `libvirt` /
// `libvirt:<uri>` / a bare libvirt URI. Everything else asks a
// Host, and its capabilities (capabilities.ts), what it can do.
import { labPaths, type Paths } from '../core/paths.ts';
import type { Host } from './host.ts';
import { EXIT, RundirectError } from '../core/errors.ts';

export function defaultHostSpec(): string {
	return process.env.RUNDIRECT_HOST ?? (process.platform === 'win32' ? 'hyperv' : 'lab');
}

export async function openHost(spec: string, paths: Paths): Promise<Host> {
	if (spec === 'lab') {
		const { LabHost } = await import('./lab/driver.ts');
		const { ensureProbeGuestImage, findBuiltGuestImage } = await import('../lab-builder/guest.ts');
		// Only a real kernel tells whether KVM runs guests here: the lab guest, built when missing.
		const cache = labPaths(paths).cache;
		const probeImage = (await findBuiltGuestImage(cache)) ?? undefined;
		return new LabHost({
			paths,
			probeImage,
			probeGuest: () => ensureProbeGuestImage(cache),
			// The lab builder (guest image, sample destination, lab VMs) is no part of the driver: it
			// is handed in, and loaded only when a lab is built.
			provision: async (options) => (await import('../lab-builder/init.ts')).initLab(paths, options),
		});
	}
	if (spec === 'hyperv' || spec.startsWith('hyperv://')) {
		const { HypervHost, parseHostSpec } = await import('./hyperv/driver.ts');
		return new HypervHost({ computer: parseHostSpec(spec) });
	}
	const { isLibvirtSpec, openLibvirtHost } = await import('./libvirt/open.ts');
	if (isLibvirtSpec(spec)) {
		const { findBuiltGuestImage } = await import('../lab-builder/guest.ts');
		// The lab guest, where built, is the real kernel that tells whether KVM runs guests.
		const probeImage = (await findBuiltGuestImage(labPaths(paths).cache)) ?? undefined;
		return openLibvirtHost(spec, paths, probeImage ? { probeImage } : {});
	}
	throw new RundirectError(`unknown host ${JSON.stringify(spec)}`, EXIT.usage, 'use --host lab, --host hyperv, --host hyperv://<server>, --host libvirt or --host libvirt:<uri>');
}
