// The libvirt host as the registry opens it: `--host libvirt`, `--host libvirt:<uri>` or a
// bare libvirt URI (qemu:///system, qemu+ssh://user@server/system).
import type { Paths } from '../../core/paths.ts';
import { LibvirtHost } from './driver.ts';
import { uriOfSpec } from './uri.ts';

export { isLibvirtSpec } from './uri.ts';

export function openLibvirtHost(spec: string, paths: Paths): LibvirtHost {
	return new LibvirtHost({ uri: uriOfSpec(spec), paths });
}
