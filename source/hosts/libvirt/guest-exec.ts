// Commands inside a libvirt guest, through its QEMU guest agent: a drill's application checks
// (and the guest's addresses, for its TCP checks).
// libvirt holds the agent's channel itself (it connects to the socket it made), so the way in
// is `virsh qemu-agent-command` — the one agent passthrough libvirt has; it logs the domain as
// "tainted: custom-ga-command", a note and nothing more. libvirt has no API of its own that runs
// a command in a guest. Proof of life stays on its own API (`guestinfo`, status.ts).
import { type AgentCall, execThrough, GuestAgentError, type GuestExecResult, type GuestInterface, interfacesThrough } from '../../qemu/guest-agent.ts';
import type { Virsh } from './virsh.ts';

/** libvirt's words for "no agent (yet)": not configured, not connected, not answering. */
const NO_AGENT = /not (?:responding|connected|configured|available)|agent is not|unable to.*agent/i;

/** One agent command through `virsh qemu-agent-command` (any of them: guest-exec, guest-network-get-interfaces). */
function agentCallOf(virsh: Virsh, domain: string): AgentCall {
	return async <T>(execute: string, args: Record<string, unknown>, deadline: number): Promise<T> => {
		const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
		const result = await virsh.tryRun(['qemu-agent-command', domain, JSON.stringify({ execute, arguments: args }), '--timeout', String(seconds)], { timeoutMs: seconds * 1000 + 5_000, reconnectMs: 0 });
		if (!result.ok) {
			const message = result.stderr.replace(/^error:\s*/gm, '').replace(/\s*\n\s*/g, '; ').trim() || 'virsh failed';
			throw new GuestAgentError(`${execute}: ${message}`, NO_AGENT.test(message) ? 'NO_AGENT' : 'COMMAND_FAILED');
		}
		try {
			return (JSON.parse(result.stdout) as { return: T }).return;
		} catch {
			throw new GuestAgentError(`${execute}: libvirt answered something that is not JSON: ${result.stdout.slice(0, 200)}`, 'COMMAND_FAILED');
		}
	};
}

export async function libvirtGuestExec(virsh: Virsh, domain: string, argv: readonly string[], timeoutMs: number): Promise<GuestExecResult> {
	return execThrough(agentCallOf(virsh, domain), argv, Date.now() + timeoutMs);
}

/** The guest's interfaces as its agent lists them (a drill's TCP probe finds the guest's addresses there). */
export async function libvirtGuestInterfaces(virsh: Virsh, domain: string, timeoutMs: number): Promise<GuestInterface[]> {
	return interfacesThrough(agentCallOf(virsh, domain), Date.now() + timeoutMs);
}
