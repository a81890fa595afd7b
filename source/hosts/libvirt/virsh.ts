// The one way this driver talks to libvirt: `virsh --connect <uri>` as a subprocess (there is no
// maintained Node binding; virsh also reaches remote hosts). Every call is bounded by a timeout
// so a libvirtd that does not answer never hangs a step.
import { execa } from 'execa';
import { HostError } from '../../core/errors.ts';

export const VIRSH = 'virsh';
/** The first call after libvirtd starts waits for its QEMU capability probe (~12 s measured). */
const DEFAULT_TIMEOUT_MS = 90_000;
/** How long a call waits for a libvirtd that is restarting (it reconnects to its QEMUs on the way up). */
const RECONNECT_MS = 60_000;

/** libvirtd is not there (yet): nothing was done, so any call may be tried again. */
const NOT_CONNECTED = /Failed to connect socket|failed to connect to the hypervisor|no connection driver available|Connection refused|no valid connection/i;
/** libvirtd went away during the call: only a call that changes nothing may be repeated. */
const CONNECTION_LOST = /End of file while reading data|Cannot recv data|Cannot write data|Connection reset by peer|Broken pipe|client socket is closed|connection is closed/i;
const READ_ONLY = new Set(['version', 'list', 'domstate', 'dominfo', 'dumpxml', 'domuuid', 'domblklist', 'net-info', 'pool-list', 'pool-dumpxml', 'snapshot-list', 'domcapabilities', 'capabilities']);

function readOnly(args: string[]): boolean {
	const [command] = args;
	if (command === undefined) return false;
	if (command === 'metadata') return !args.includes('--set') && !args.includes('--remove');
	if (command === 'blockjob') return args.includes('--raw') || args.includes('--info');
	return READ_ONLY.has(command);
}

export interface VirshResult {
	ok: boolean;
	stdout: string;
	stderr: string;
}

/** libvirt's "no such domain" (VIR_ERR_NO_DOMAIN), as virsh prints it. */
export function isNoDomain(stderr: string): boolean {
	return /failed to get domain|Domain not found|no domain with matching name/i.test(stderr);
}

export class Virsh {
	constructor(readonly uri: string) {}

	/** The argument vector of one call, as the runbook shows it. */
	argv(args: string[]): string[] {
		return [VIRSH, '--connect', this.uri, ...args];
	}

	async tryRun(args: string[], options: { timeoutMs?: number; reconnectMs?: number } = {}): Promise<VirshResult> {
		const deadline = Date.now() + (options.reconnectMs ?? RECONNECT_MS);
		while (true) {
			const result = await this.#once(args, options);
			const retry = !result.ok && (NOT_CONNECTED.test(result.stderr) || (CONNECTION_LOST.test(result.stderr) && readOnly(args)));
			if (!retry || Date.now() > deadline) return result;
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
	}

	async #once(args: string[], options: { timeoutMs?: number }): Promise<VirshResult> {
		const result = await execa(VIRSH, ['--connect', this.uri, ...args], { reject: false, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, stdin: 'ignore' });
		if (result.timedOut) return { ok: false, stdout: String(result.stdout ?? ''), stderr: `virsh ${args[0]} did not answer within ${Math.round((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s` };
		return { ok: result.exitCode === 0, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? result.shortMessage ?? '').trim() };
	}

	/** Stdout of a call that must succeed; a failure is a HostError naming the command. */
	async run(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
		const result = await this.tryRun(args, options);
		if (!result.ok) {
			const message = result.stderr.replace(/^error:\s*/gm, '').replace(/\s*\n\s*/g, '; ') || 'failed';
			throw new HostError('VIRSH_FAILED', `virsh ${args.slice(0, 2).join(' ')} on ${this.uri}: ${message}`);
		}
		return result.stdout;
	}
}
