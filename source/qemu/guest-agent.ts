// The QEMU guest agent (qemu-guest-agent in the guest, a virtio-serial port named
// org.qemu.guest_agent.0 on the host side) over its unix socket: proof that a guest's OS runs
// (guest-ping), and commands run inside the guest with their exit code and output kept
// (guest-exec, then guest-exec-status until it exits) — no network needed.
//
// The channel is a byte stream the agent may not be reading yet (the guest still booting) and
// may hold answers to requests of an earlier connection, so every connection starts with
// guest-sync-delimited: the agent answers it with 0xFF then {"return": id}, and everything before
// that answer is dropped. One client at a time: a connection lasts one operation.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export class GuestAgentError extends Error {
	constructor(
		message: string,
		readonly code: 'NO_AGENT' | 'TIMEOUT' | 'COMMAND_FAILED',
	) {
		super(message);
	}
}

export interface GuestExecResult {
	/** Null when the process was killed by a signal (then `signal` says which). */
	exitCode: number | null;
	signal: number | null;
	stdout: string;
	stderr: string;
	/** The agent keeps at most 16 MiB of each stream. */
	truncated: boolean;
	ms: number;
}

type Reply = { return?: unknown; error?: { class?: string; desc?: string } };

class AgentConnection {
	readonly #socket: net.Socket;
	#buffer = Buffer.alloc(0);
	#waiters: Array<() => void> = [];
	#closed: Error | null = null;

	private constructor(socket: net.Socket) {
		this.#socket = socket;
		socket.on('data', (chunk: Buffer) => {
			this.#buffer = Buffer.concat([this.#buffer, chunk]);
			this.#wake();
		});
		const end = (error?: Error) => {
			this.#closed ??= error ?? new Error('the guest agent channel closed');
			this.#wake();
		};
		socket.on('error', end);
		socket.on('close', () => end());
	}

	static async open(socketPath: string, deadline: number): Promise<AgentConnection> {
		const socket = net.connect(socketPath);
		await new Promise<void>((resolve, reject) => {
			const timer = setTimeout(() => reject(new GuestAgentError('the guest agent socket did not accept a connection in time', 'TIMEOUT')), Math.max(deadline - Date.now(), 1));
			socket.once('connect', () => {
				clearTimeout(timer);
				resolve();
			});
			socket.once('error', (error) => {
				clearTimeout(timer);
				reject(new GuestAgentError(`no guest agent channel (${(error as NodeJS.ErrnoException).code ?? error.message})`, 'NO_AGENT'));
			});
		}).catch((error: unknown) => {
			socket.destroy();
			throw error;
		});
		const connection = new AgentConnection(socket);
		try {
			await connection.#sync(deadline);
		} catch (error) {
			// Closed whatever happens: QEMU serves one client at a time, so a connection left open holds the channel for good.
			connection.close();
			throw error;
		}
		return connection;
	}

	#wake(): void {
		const waiters = this.#waiters;
		this.#waiters = [];
		for (const wake of waiters) wake();
	}

	async #more(deadline: number): Promise<void> {
		if (this.#closed) throw this.#closed;
		const left = deadline - Date.now();
		if (left <= 0) throw new GuestAgentError('the guest agent did not answer in time (not running in the guest?)', 'TIMEOUT');
		await new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, left);
			this.#waiters.push(() => {
				clearTimeout(timer);
				resolve();
			});
		});
	}

	/** The next complete JSON line. */
	async #line(deadline: number): Promise<string> {
		while (true) {
			const end = this.#buffer.indexOf(0x0a);
			if (end >= 0) {
				const line = this.#buffer.subarray(0, end).toString('utf8').trim();
				this.#buffer = this.#buffer.subarray(end + 1);
				if (line) return line;
				continue;
			}
			await this.#more(deadline);
		}
	}

	async #sync(deadline: number): Promise<void> {
		const id = Math.floor(Math.random() * 2 ** 31);
		this.#socket.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } })}\n`);
		while (true) {
			const mark = this.#buffer.indexOf(0xff);
			if (mark >= 0) {
				this.#buffer = this.#buffer.subarray(mark + 1);
				const reply = JSON.parse(await this.#line(deadline)) as Reply;
				if (reply.return === id) return;
				continue;
			}
			// Nothing before the delimiter matters: answers meant for an earlier client.
			this.#buffer = Buffer.alloc(0);
			await this.#more(deadline);
		}
	}

	async call<T>(execute: string, args: Record<string, unknown> | undefined, deadline: number): Promise<T> {
		this.#socket.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
		let reply: Reply;
		try {
			reply = JSON.parse(await this.#line(deadline)) as Reply;
		} catch (error) {
			if (error instanceof GuestAgentError) throw error;
			throw new GuestAgentError(`the guest agent sent something that is not JSON: ${(error as Error).message}`, 'COMMAND_FAILED');
		}
		if (reply.error) throw new GuestAgentError(`${execute}: ${reply.error.desc ?? reply.error.class ?? 'failed'}`, 'COMMAND_FAILED');
		return reply.return as T;
	}

	close(): void {
		this.#socket.destroy();
	}
}

async function withAgent<T>(socketPath: string, timeoutMs: number, work: (agent: AgentConnection, deadline: number) => Promise<T>): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	const agent = await AgentConnection.open(socketPath, deadline);
	try {
		return await work(agent, deadline);
	} finally {
		agent.close();
	}
}

/** Whether the guest agent answers within `timeoutMs`: the guest's OS is up and runs its services. */
export async function guestAgentAnswers(socketPath: string, timeoutMs: number): Promise<boolean> {
	try {
		await withAgent(socketPath, timeoutMs, (agent, deadline) => agent.call('guest-ping', undefined, deadline));
		return true;
	} catch {
		return false;
	}
}

const POLL_MS = 100;

/** Why a command could not run inside `where` (e.g. "VM web01"), with what to check when no agent answered. */
export function agentFailure(argv: readonly string[], where: string, error: GuestAgentError): string {
	const hint = error.code === 'COMMAND_FAILED' ? '' : ': is qemu-guest-agent installed and running in the guest?';
	return `${argv.join(' ')} could not run inside ${where}: ${error.message}${hint}`;
}

/** One guest agent command and its `return` (any transport: the agent's socket, libvirt's `qemu-agent-command`). */
export type AgentCall = <T>(execute: string, args: Record<string, unknown>, deadline: number) => Promise<T>;

type ExecStatus = { exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string; 'out-truncated'?: boolean; 'err-truncated'?: boolean };

/**
 * Runs `argv` inside the guest (argv[0] a path or a name on the guest's PATH) through `call` and
 * waits for it to exit, until `deadline`: its exit code and output. A command still running then
 * is reported as timed out (the agent offers no way to end it).
 */
export async function execThrough(call: AgentCall, argv: readonly string[], deadline: number): Promise<GuestExecResult> {
	const began = Date.now();
	const [command, ...args] = argv;
	if (!command) throw new GuestAgentError('no command to run in the guest', 'COMMAND_FAILED');
	const { pid } = await call<{ pid: number }>('guest-exec', { path: command, arg: args, 'capture-output': true }, deadline);
	while (true) {
		const status = await call<ExecStatus>('guest-exec-status', { pid }, deadline);
		if (status.exited) {
			return {
				exitCode: status.exitcode ?? null,
				signal: status.signal ?? null,
				stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
				stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
				truncated: Boolean(status['out-truncated'] || status['err-truncated']),
				ms: Date.now() - began,
			};
		}
		if (Date.now() + POLL_MS >= deadline) throw new GuestAgentError(`${argv.join(' ')} still ran inside the guest after ${Math.round((deadline - began) / 1000)} s`, 'TIMEOUT');
		await sleep(POLL_MS);
	}
}

/** `execThrough` over the agent's unix socket (the lab's QEMU serves it), at most `timeoutMs` in all. */
export async function guestExec(socketPath: string, argv: readonly string[], timeoutMs: number): Promise<GuestExecResult> {
	if (!argv[0]) throw new GuestAgentError('no command to run in the guest', 'COMMAND_FAILED');
	return withAgent(socketPath, timeoutMs, (agent, deadline) => execThrough((execute, args, until) => agent.call(execute, args, until), argv, deadline));
}

/** A guest NIC as its agent reports it (guest-network-get-interfaces). */
export interface GuestInterface {
	name: string;
	/** Lower case with colons; null for interfaces without one (loopback). */
	mac: string | null;
	addresses: Array<{ family: 'ipv4' | 'ipv6'; address: string; prefix: number }>;
}

type AgentInterface = { name: string; 'hardware-address'?: string; 'ip-addresses'?: Array<{ 'ip-address-type': string; 'ip-address': string; prefix: number }> };

/** The guest's network interfaces and their addresses, as the guest itself sees them, through `call`. */
export async function interfacesThrough(call: AgentCall, deadline: number): Promise<GuestInterface[]> {
	const answer = await call<AgentInterface[]>('guest-network-get-interfaces', {}, deadline);
	return answer.map((entry) => ({
		name: entry.name,
		mac: entry['hardware-address']?.toLowerCase() ?? null,
		addresses: (entry['ip-addresses'] ?? []).map((address) => ({ family: address['ip-address-type'] === 'ipv6' ? ('ipv6' as const) : ('ipv4' as const), address: address['ip-address'], prefix: address.prefix })),
	}));
}

/** `interfacesThrough` over the agent's unix socket (the lab's QEMU serves it). */
export async function guestInterfaces(socketPath: string, timeoutMs: number): Promise<GuestInterface[]> {
	return withAgent(socketPath, timeoutMs, (agent, deadline) => interfacesThrough((execute, args, until) => agent.call(execute, args, until), deadline));
}
