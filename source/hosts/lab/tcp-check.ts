// A drill's TCP check on the lab host: the probe connects from inside the VM's network namespace
// (segment.ts) to the guest's IPv6 link-local addresses on each tap, as the guest agent lists
// them, so what answers is the guest itself.
import type { RestorePlan } from '../host.ts';
import { GuestAgentError, guestInterfaces, type GuestInterface } from '../../qemu/guest-agent.ts';
import type { LabContext } from './context.ts';
import { LabError } from './errors.ts';
import { qemuMac } from './hardware.ts';
import { labSegment, runningPid, runtimeFiles } from './runtime.ts';
import { probeTcp, segmentExists, segmentProblem, tapName, type TcpProbeAttempt } from '../../qemu/segment.ts';

/** One connection attempt may wait this long for the guest's SYN-ACK (a drill retries the check while its time lasts). */
const CONNECT_MS = 3000;

export const TCP_PROBE_VIA = "a probe inside the VM's own network namespace, at the guest's IPv6 link-local address";

export async function tcpProbeProblem(purpose: 'drill' | 'recovery'): Promise<string | null> {
	if (purpose === 'recovery') return "on the lab host a site recovery's VMs run on QEMU's user-mode network, which accepts a connection itself before the guest answers, so no probe there tells a guest's answer: TCP checks are for drills here (or check the port from inside the guest with an exec check)";
	return segmentProblem();
}

/** The scoped link-local addresses the probe tries: on NIC i's tap, the addresses of the guest interface with NIC i's MAC (any, when the NIC has none). */
function targets(plan: RestorePlan, interfaces: GuestInterface[]): string[] {
	const nics = interfaces.filter((entry) => entry.mac !== null && entry.mac !== '00:00:00:00:00:00');
	const hosts: string[] = [];
	plan.settings.nics.forEach((nic, index) => {
		const mac = nic.mac ? qemuMac(nic.mac) : null;
		for (const entry of nics.filter((candidate) => mac === null || candidate.mac === mac)) {
			for (const address of entry.addresses) if (address.family === 'ipv6' && /^fe[89ab]/i.test(address.address)) hosts.push(`${address.address}%${tapName(index)}`);
		}
	});
	return hosts;
}

function described(interfaces: GuestInterface[]): string {
	return interfaces.map((entry) => `${entry.name} ${entry.mac ?? '-'} ${entry.addresses.map((address) => `${address.address}/${address.prefix}`).join(' ') || 'no address'}`).join('; ');
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
	const hosts = targets(plan, interfaces);
	if (hosts.length === 0) throw new LabError('PROBE_FAILED', `the guest reports no IPv6 link-local address on the VM's NIC (${described(interfaces)}): is the NIC up inside the guest?`);
	return probeTcp(namespace, hosts, port, Math.max(500, Math.round(Math.min(CONNECT_MS, timeoutMs))));
}
