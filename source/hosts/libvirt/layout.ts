// Where the libvirt host keeps a session's files. They must be reachable by QEMU, which
// libvirt may run as its own user (libvirt-qemu), so the defaults sit under /var/lib/libvirt
// rather than in the administrator's home; tests and unusual hosts pass their own.
import path from 'node:path';
import type { Paths } from '../../core/paths.ts';

export interface LibvirtLayout {
	/** rundirect's own folder on this host: the work, serial and aside folders are in it. */
	readonly root: string;
	/** `--location original`: production images go to <images>/<vm>/. */
	readonly images: string;
	/** Snapshot layers (overlays) and step 5's progress files: <work>/<session>/. */
	readonly work: string;
	/** Serial console logs of the session's domains: <serial>/<session>.log. */
	readonly serial: string;
	/** Records of the domains step 1 set aside: <aside>/<name>~<session>.json. */
	readonly aside: string;
	/** This host's caches (the domain-type verdict). */
	readonly cache: string;
}

export interface LayoutOverrides {
	images?: string;
	/** Parent of the work, serial and aside folders. */
	state?: string;
}

export function libvirtLayout(paths: Paths, overrides: LayoutOverrides = {}): LibvirtLayout {
	const state = overrides.state ?? process.env.RUNDIRECT_LIBVIRT_STATE ?? '/var/lib/libvirt/rundirect';
	return {
		root: state,
		images: overrides.images ?? process.env.RUNDIRECT_LIBVIRT_IMAGES ?? '/var/lib/libvirt/images',
		work: path.join(state, 'work'),
		serial: path.join(state, 'serial'),
		aside: path.join(state, 'aside'),
		cache: path.join(paths.cache, 'libvirt'),
	};
}

export function serialFileOf(layout: LibvirtLayout, sessionId: string): string {
	return path.join(layout.serial, `${sessionId}.log`);
}
