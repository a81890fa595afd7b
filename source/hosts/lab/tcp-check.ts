// A drill's TCP check on the lab host: the probe connects from inside the VM's network namespace
// (qemu/segment.ts) to the guest's IPv6 link-local addresses on each tap, as the guest agent
// lists them, so what answers is the guest itself.
import type { RestorePlan } from '../host.ts';
import { GuestAgentError, guestInterfaces, type GuestInterface } from '../../qemu/guest-agent.ts';
import type { LabContext } from './context.ts';
import { LabError } from './errors.ts';
import { labSegment, runningPid, runtimeFiles } from './runtime.ts';
import { describeInterfaces, linkLocalTargets, probeTcp, segmentExists, segmentProblem, tapName, type TcpProbeAttempt } from '../../qemu/segment.ts';

/** One connection attempt may wait this long for the guest's SYN-ACK (a drill retries the check while its time lasts). */
const CONNECT_MS = 3000;

export const TCP_PROBE_VIA = "a probe inside the VM's own network namespace, at the guest's IPv6 link-local address";

export async function tcpProbeProblem(purpose: 'drill' | 'recovery'): Promise<string | null> {
	if (purpose === 'recovery') return "on the lab host a site recovery's VMs run on QEMU's user-mode network, which accepts a connection itself before the guest answers, so no probe there tells a guest's answer: TCP checks are for drills here (or check the port from inside the guest with an exec check)";
	return segmentProblem();
}

export async function probeSessionTcp(context: LabContext, plan: RestorePlan, port: number, timeoutMs: number): Promise<TcpProbeAttempt[]> {
	const files = runtimeFiles(context.lab.run, plan.vmName);
	if ((await runningPid(files)) === null) throw new LabError('PROBE_FAILED', `VM ${plan.vmName} is not running: no port of it can answer`);
	const namespace = labSegment(context.lab.run, plan.vmName);
	if (!(await segmentExists(namespace))) throw new LabError('PROBE_FAILED', `VM ${plan.vmName} is not on a probed network (network namespace ${namespace} does not exist): it was started without TCP checks`);
	if (plan.settings.nics.length === 0) throw new LabError('PROBE_FAILED', `VM ${plan.vmName} has no NIC: no port of it can be reached`);
	let interfaces: GuestInterface[];
	try {
		interfaces = await guestInterfaces(files.qgaSocket, Math.min(timeoutMs, 10_000));
	} catch (error) {
		if (!(error instanceof GuestAgentError)) throw error;
		throw new LabError('PROBE_FAILED', `the guest agent of VM ${plan.vmName} did not list its addresses (${error.message}): the probe reaches the guest at the link-local addresses the agent reports`);
	}
	const hosts = linkLocalTargets(plan.settings.nics.map((nic) => nic.mac), plan.settings.nics.map((_nic, index) => tapName(index)), interfaces);
	if (hosts.length === 0) throw new LabError('PROBE_FAILED', `the guest reports no IPv6 link-local address on the VM's NIC (${describeInterfaces(interfaces)}): is the NIC up inside the guest?`);
	return probeTcp(namespace, hosts, port, Math.max(500, Math.round(Math.min(CONNECT_MS, timeoutMs))));
}
