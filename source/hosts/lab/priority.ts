// The lab's VMs, together, weigh on the CPU scheduler what one of the operator's processes
// weighs, as on a systemd host, where machine.slice (all VMs) and user.slice (the operator's
// shell, the console) get equal shares. Each daemonized QEMU is a session of its own, and so a
// scheduling group (autogroup) of its own that weighs as much as the console's: ten TCG guests
// on two cores left the console a tenth of the CPU (its first frame waited 1.5 s in the run
// queue). So each VM's group gets the niceness at which N of them weigh about one: one VM runs
// at 0, as before; ten at 10. A niceness costs a VM nothing while nothing else wants the CPU.
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** CFS's weight falls by ×1.25 per step of niceness; 19 is the lowest priority there is. */
export function shareNiceness(vms: number): number {
	return vms <= 1 ? 0 : Math.min(19, Math.round(Math.log(vms) / Math.log(1.25)));
}

/** The niceness of the process's scheduling group, or null without autogroups (a kernel without them, or switched off). */
export async function groupNiceness(pid: number): Promise<number | null> {
	const text = await fs.readFile(`/proc/${pid}/autogroup`, 'utf8').catch(() => '');
	const nice = /\bnice (-?\d+)/.exec(text)?.[1];
	return nice === undefined ? null : Number(nice);
}

/**
 * Gives each of these QEMUs' groups the niceness of its share. Unprivileged, the kernel takes one
 * such change per 100 ms (EAGAIN); a group that cannot be changed is left as it is: a VM still
 * runs, and that is not worth failing a restore for. Without autogroups this does nothing: the
 * threads' own niceness could not be lowered again, unprivileged, once fewer VMs run.
 */
export async function shareTheCpu(qemuPids: readonly number[]): Promise<void> {
	const nice = shareNiceness(qemuPids.length);
	for (const pid of qemuPids) {
		const current = await groupNiceness(pid);
		if (current === null || current === nice) continue;
		for (let attempt = 0; attempt < 20; attempt++) {
			try {
				await fs.writeFile(`/proc/${pid}/autogroup`, String(nice));
				break;
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') break;
				await sleep(100);
			}
		}
	}
}
