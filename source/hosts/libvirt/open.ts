// The libvirt host as the registry opens it: `--host libvirt`, `--host libvirt:<uri>` or a
// bare libvirt URI (qemu:///system, qemu+ssh://user@server/system).
import type { Paths } from '../../core/paths.ts';
import { LibvirtHost } from './driver.ts';
import { uriOfSpec } from './uri.ts';

export { isLibvirtSpec } from './uri.ts';

/** `probeImage`: the lab guest image when it is built, for a conclusive KVM probe (as the lab host gets it). */
export function openLibvirtHost(spec: string, paths: Paths, options: { probeImage?: string } = {}): LibvirtHost {
	return new LibvirtHost({
		uri: uriOfSpec(spec),
		paths,
		sharedStorage: process.env.RUNDIRECT_LIBVIRT_SHARED_STORAGE === '1',
		...(options.probeImage ? { probeImage: options.probeImage } : {}),
	});
}
