// What the parts of the lab driver share: the lab's folders, the VMs' monitors and the
// accelerator verdict (detected once per LabHost, replaced when a VM proves KVM cannot run it).
import type { LabPaths } from '../../core/paths.ts';
import type { AcceleratorVerdict } from './accel.ts';
import type { Monitors } from './monitor.ts';

export interface LabContext {
	readonly lab: LabPaths;
	readonly monitors: Monitors;
	accelerator(): Promise<AcceleratorVerdict>;
	/** A VM died under KVM and ran under TCG: remember TCG for this lab (accel.ts). */
	kvmFailed(reason: string): Promise<void>;
}
