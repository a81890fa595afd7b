// A drill's TCP check on libvirt: a drill VM with TCP checks gets its NICs as taps of its own
// (`<interface type='ethernet'>`, no network, no bridge); right after the domain starts they are
// moved into a network namespace of the session's (qemu/segment.ts), where the probe runs and
// connects to the guest's IPv6 link-local addresses, as the guest agent lists them. Until the move
// (the firmware's first second) a tap is a link of the host with no address but its link-local one.
// Local URIs only: the taps are on the machine libvirtd runs on, the probe on this one.
import { createHash } from 'node:crypto';
import { HostError } from '../../core/errors.ts';
import { GuestAgentError } from '../../qemu/guest-agent.ts';
import { describeInterfaces, linkLocalTargets, moveIntoSegment, probeTcp, segmentExists, segmentName, segmentProblem, type TcpProbeAttempt } from '../../qemu/segment.ts';
import type { RestorePlan } from '../host.ts';
import { libvirtGuestInterfaces } from './guest-exec.ts';
import type { Virsh } from './virsh.ts';

const CONNECT_MS = 3000;

export const TCP_PROBE_VIA = "a probe inside the session's own network namespace, at the guest's IPv6 link-local address";

/** Whether the session's domain has its NICs on probed taps. */
export function probed(plan: RestorePlan): boolean {
	return plan.drill?.tcpProbe === true;
}

/** The session's namespace. */
export function sessionSegment(plan: RestorePlan): string {
	return segmentName('libvirt', plan.sessionId);
}

/** NIC i's tap: unique on the host (it starts in the host's namespace), at most 15 characters. */
export function sessionTaps(plan: RestorePlan): string[] {
	const key = createHash('sha256').update(plan.sessionId).digest('hex').slice(0, 10);
	return plan.settings.nics.map((_nic, index) => `rd${key}${index}`);
}

export async function tcpProbeProblem(purpose: 'drill' | 'recovery', local: boolean): Promise<string | null> {
	if (purpose === 'recovery') return "a site recovery's VMs are on their own networks, where no probe of this machine stands: TCP checks are for drills (or check the port from inside the guest with an exec check)";
	if (!local) return 'a TCP check probes from the machine libvirtd runs on, and this libvirt is remote: run rundirect on the libvirt host, or check the port from inside the guest with an exec check';
	return segmentProblem();
}

/** After the domain started: its taps go into the session's namespace (again after a restart of the domain). */
export async function isolateTaps(plan: RestorePlan): Promise<void> {
	if (probed(plan)) await moveIntoSegment(sessionSegment(plan), sessionTaps(plan));
}

export async function probeDomainTcp(virsh: Virsh, plan: RestorePlan, port: number, timeoutMs: number): Promise<TcpProbeAttempt[]> {
	const namespace = sessionSegment(plan);
	if (!probed(plan) || !(await segmentExists(namespace))) throw new HostError('PROBE_FAILED', `domain ${plan.vmName} is not on a probed network (network namespace ${namespace} does not exist): it was started without TCP checks`);
	if (plan.settings.nics.length === 0) throw new HostError('PROBE_FAILED', `domain ${plan.vmName} has no NIC: no port of it can be reached`);
	let interfaces;
	try {
		interfaces = await libvirtGuestInterfaces(virsh, plan.vmName, Math.min(timeoutMs, 10_000));
	} catch (error) {
		if (!(error instanceof GuestAgentError)) throw error;
		throw new HostError('PROBE_FAILED', `the guest agent of domain ${plan.vmName} did not list its addresses (${error.message}): the probe reaches the guest at the link-local addresses the agent reports`);
	}
	const hosts = linkLocalTargets(plan.settings.nics.map((nic) => nic.mac), sessionTaps(plan), interfaces);
	if (hosts.length === 0) throw new HostError('PROBE_FAILED', `the guest reports no IPv6 link-local address on the domain's NIC (${describeInterfaces(interfaces)}): is the NIC up inside the guest?`);
	return probeTcp(namespace, hosts, port, Math.max(500, Math.round(Math.min(CONNECT_MS, timeoutMs))));
}
