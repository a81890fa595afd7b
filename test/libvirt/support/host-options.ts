// The libvirt host options every libvirt test uses for one test env root: its own state, data
// and layout folders, the shared download cache, and TCG (this machine's KVM cannot run guests;
// detection is tested on its own).
import path from 'node:path';
import type { LibvirtHostOptions } from '../../../source/hosts/libvirt/driver.ts';
import { TEST_CACHE } from '../../support/lab-env.ts';

export function libvirtTestHostOptions(uri: string, root: string): LibvirtHostOptions {
	return {
		uri,
		paths: { state: path.join(root, 'state'), data: path.join(root, 'data'), cache: path.join(TEST_CACHE, 'rundirect') },
		layout: { images: path.join(root, 'images'), state: path.join(root, 'libvirt') },
		domainType: 'qemu',
	};
}
