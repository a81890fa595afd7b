// Picks the host a command talks to: `lab` (QEMU/KVM, the default where there is no
// Hyper-V) or `hyperv` / `hyperv://<server>`.
import { labPaths, type Paths } from '../core/paths.ts';
import type { Host } from './host.ts';
import { EXIT, RundirectError } from '../core/errors.ts';

export function defaultHostSpec(): string {
	return process.env.RUNDIRECT_HOST ?? (process.platform === 'win32' ? 'hyperv' : 'lab');
}

export async function openHost(spec: string, paths: Paths): Promise<Host> {
	if (spec === 'lab') {
		const { LabHost } = await import('./lab/driver.ts');
		const { findBuiltGuestImage } = await import('../lab-builder/guest.ts');
		// Only the real lab guest tells whether KVM runs guests here; without it a boot sector decides.
		const probeImage = (await findBuiltGuestImage(labPaths(paths).cache)) ?? undefined;
		return new LabHost({ paths, probeImage });
	}
	if (spec === 'hyperv' || spec.startsWith('hyperv://')) {
		const { HypervHost, parseHostSpec } = await import('./hyperv/driver.ts');
		return new HypervHost({ computer: parseHostSpec(spec) });
	}
	throw new RundirectError(`unknown host ${JSON.stringify(spec)}`, EXIT.usage, 'use --host lab, --host hyperv or --host hyperv://<server>');
}
