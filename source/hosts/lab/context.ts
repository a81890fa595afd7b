// What the parts of the lab driver share: the lab's folders, the VMs' monitors and the
// accelerator verdict (detected once per LabHost).
import type { LabPaths } from '../../core/paths.ts';
import type { AcceleratorVerdict } from './accel.ts';
import type { Monitors } from './monitor.ts';

export interface LabContext {
	readonly lab: LabPaths;
	readonly monitors: Monitors;
	accelerator(): Promise<AcceleratorVerdict>;
}
