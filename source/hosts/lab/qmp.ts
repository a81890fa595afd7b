// A small QMP client of our own over a unix socket. QEMU serves only ONE QMP client at a
// time (a second connection gets no greeting until the first closes) and drops events sent
// while nobody is connected, so callers must re-query state after (re)connecting rather
// than rely on having seen an event.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './errors.ts';

export interface QmpGreeting {
	version: { qemu: { major: number; minor: number; micro: number }; package: string };
	capabilities: string[];
}

export interface QmpEvent {
	event: string;
	data: Record<string, unknown>;
	timestamp: { seconds: number; microseconds: number };
}

/** An error QEMU answered with; `qmpClass` is e.g. "GenericError", "DeviceNotFound". */
export class QmpError extends LabError {
	override name = 'QmpError';
	constructor(
		readonly command: string,
		readonly qmpClass: string,
		readonly desc: string,
	) {
		super('QMP_ERROR', `QMP ${command}: ${qmpClass}: ${desc}`);
	}
}

export interface QmpConnectOptions {
	/** How long to wait for the socket to accept and QEMU to greet (retries while the socket is absent). */
	timeoutMs?: number;
}

export interface QmpExecuteOptions {
	timeoutMs?: number;
}

interface Pending {
	command: string;
	resolve: (value: unknown) => void;
	reject: (error: Error) => void;
	timer: NodeJS.Timeout;
}

type QmpEvents = {
	event: [QmpEvent];
	/** The connection ended (QEMU quit or died, or close() was called). */
	close: [Error | null];
};

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

export class QmpClient extends EventEmitter<QmpEvents> {
	#socket: net.Socket | null = null;
	#buffer = '';
	#nextId = 1;
	#pending = new Map<string, Pending>();
	#greeting: QmpGreeting | null = null;

	private constructor(readonly socketPath: string) {
		super();
	}

	static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
		const client = new QmpClient(socketPath);
		await client.#open(options);
		return client;
	}

	get greeting(): QmpGreeting {
		if (!this.#greeting) throw new LabError('QMP_NOT_CONNECTED', `QMP ${this.socketPath}: not connected`);
		return this.#greeting;
	}

	get connected(): boolean {
		return this.#socket !== null && !this.#socket.destroyed;
	}

	/** Closes the current connection (if any) and connects again: the same object, listeners kept. */
	async reconnect(options: QmpConnectOptions = {}): Promise<void> {
		this.#drop(null);
		await this.#open(options);
	}

	async execute<T = unknown>(command: string, args?: Record<string, unknown>, options: QmpExecuteOptions = {}): Promise<T> {
		const socket = this.#socket;
		if (!socket || socket.destroyed) throw new LabError('QMP_NOT_CONNECTED', `QMP ${command}: not connected to ${this.socketPath}`);
		const id = `rd-${this.#nextId++}`;
		const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
		return new Promise<T>((resolve, reject) => {
			const timer = setTimeout(() => {
				// A late answer is ignored: its id is no longer pending. The command may still
				// take effect in QEMU; callers re-query state.
				this.#pending.delete(id);
				reject(new LabError('QMP_TIMEOUT', `QMP ${command}: no answer within ${timeoutMs} ms`));
			}, timeoutMs);
			this.#pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
			const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
			socket.write(`${JSON.stringify(message)}\n`);
		});
	}

	/** Resolves with the first event of that name (matching `filter`) or rejects after the timeout. */
	waitForEvent(name: string, filter: (event: QmpEvent) => boolean = () => true, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<QmpEvent> {
		return new Promise((resolve, reject) => {
			const onEvent = (event: QmpEvent) => {
				if (event.event !== name || !filter(event)) return;
				cleanup();
				resolve(event);
			};
			const onClose = (error: Error | null) => {
				cleanup();
				reject(error ?? new LabError('QMP_CLOSED', `QMP ${this.socketPath}: closed while waiting for ${name}`));
			};
			const timer = setTimeout(() => {
				cleanup();
				reject(new LabError('QMP_TIMEOUT', `QMP ${this.socketPath}: no ${name} event within ${timeoutMs} ms`));
			}, timeoutMs);
			const cleanup = () => {
				clearTimeout(timer);
				this.off('event', onEvent);
				this.off('close', onClose);
			};
			this.on('event', onEvent);
			this.on('close', onClose);
		});
	}

	/** Events as an async iterator, until the connection closes or the signal aborts. */
	async *events(signal?: AbortSignal): AsyncGenerator<QmpEvent> {
		const queue: QmpEvent[] = [];
		let wake: (() => void) | null = null;
		let done = false;
		const onEvent = (event: QmpEvent) => {
			queue.push(event);
			wake?.();
		};
		const onEnd = () => {
			done = true;
			wake?.();
		};
		this.on('event', onEvent);
		this.on('close', onEnd);
		signal?.addEventListener('abort', onEnd, { once: true });
		try {
			while (true) {
				const next = queue.shift();
				if (next) {
					yield next;
					continue;
				}
				if (done || signal?.aborted) return;
				await new Promise<void>((resolve) => (wake = resolve));
				wake = null;
			}
		} finally {
			this.off('event', onEvent);
			this.off('close', onEnd);
			signal?.removeEventListener('abort', onEnd);
		}
	}

	/** Closes the connection; never stops QEMU. */
	async close(): Promise<void> {
		const socket = this.#socket;
		this.#drop(null);
		if (socket && !socket.closed) await new Promise<void>((resolve) => socket.once('close', () => resolve()));
	}

	async #open(options: QmpConnectOptions): Promise<void> {
		const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
		const deadline = Date.now() + timeoutMs;
		let lastError: Error | null = null;
		while (Date.now() < deadline) {
			try {
				await this.#attempt(deadline);
				return;
			} catch (error) {
				lastError = error as Error;
				const code = (error as NodeJS.ErrnoException).code;
				if (code === 'ETIMEDOUT') {
					lastError = null;
					break;
				}
				// The socket appears a moment after launch; anything else is final.
				if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw error;
				await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
			}
		}
		throw new LabError(
			'QMP_NO_GREETING',
			`QMP ${this.socketPath}: no greeting within ${timeoutMs} ms` +
				(lastError ? ` (${lastError.message})` : ' (QEMU serves one QMP client at a time: is another rundirect console connected to this VM?)'),
		);
	}

	#attempt(deadline: number): Promise<void> {
		return new Promise<void>((resolve, reject) => {
			const socket = net.createConnection(this.socketPath);
			let greeted = false;
			const timer = setTimeout(
				() => {
					socket.destroy();
					reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
				},
				Math.max(1, deadline - Date.now()),
			);
			const fail = (error: Error) => {
				clearTimeout(timer);
				socket.destroy();
				reject(error);
			};
			socket.setEncoding('utf8');
			socket.once('error', fail);
			this.#buffer = '';
			const onGreetingData = (chunk: string) => {
				this.#buffer += chunk;
				const newline = this.#buffer.indexOf('\n');
				if (newline < 0 || greeted) return;
				const line = this.#buffer.slice(0, newline);
				this.#buffer = this.#buffer.slice(newline + 1);
				let message: { QMP?: QmpGreeting };
				try {
					message = JSON.parse(line) as { QMP?: QmpGreeting };
				} catch {
					fail(new LabError('QMP_NO_GREETING', `not a QMP greeting: ${line.slice(0, 200)}`));
					return;
				}
				if (!message.QMP) {
					fail(new LabError('QMP_NO_GREETING', `not a QMP greeting: ${line.slice(0, 200)}`));
					return;
				}
				greeted = true;
				clearTimeout(timer);
				socket.off('data', onGreetingData);
				socket.off('error', fail);
				this.#greeting = message.QMP;
				this.#attach(socket);
				this.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1000, deadline - Date.now()) }).then(
					() => resolve(),
					(error: Error) => {
						this.#drop(error);
						reject(error);
					},
				);
			};
			socket.on('data', onGreetingData);
		});
	}

	#attach(socket: net.Socket): void {
		this.#socket = socket;
		socket.on('data', (chunk: string) => {
			this.#buffer += chunk;
			this.#drain();
		});
		socket.on('error', () => {
			// 'close' follows and reports; an unhandled 'error' would crash the process.
		});
		socket.on('close', () => {
			if (this.#socket === socket) this.#drop(new LabError('QMP_CLOSED', `QMP ${this.socketPath}: connection closed (QEMU exited?)`));
		});
		// Anything that arrived together with the greeting.
		this.#drain();
	}

	#drain(): void {
		let newline: number;
		while ((newline = this.#buffer.indexOf('\n')) >= 0) {
			const line = this.#buffer.slice(0, newline).trim();
			this.#buffer = this.#buffer.slice(newline + 1);
			if (line) this.#dispatch(line);
		}
	}

	#dispatch(line: string): void {
		let message: Record<string, unknown>;
		try {
			message = JSON.parse(line) as Record<string, unknown>;
		} catch {
			return;
		}
		if (typeof message.event === 'string') {
			this.emit('event', message as unknown as QmpEvent);
			return;
		}
		const id = message.id;
		if (typeof id !== 'string') return;
		const pending = this.#pending.get(id);
		if (!pending) return;
		this.#pending.delete(id);
		clearTimeout(pending.timer);
		if ('error' in message) {
			const error = message.error as { class?: string; desc?: string };
			pending.reject(new QmpError(pending.command, error.class ?? 'GenericError', error.desc ?? 'unknown error'));
		} else {
			pending.resolve(message.return);
		}
	}

	#drop(error: Error | null): void {
		const socket = this.#socket;
		if (!socket) return;
		this.#socket = null;
		this.#greeting = null;
		socket.destroy();
		const failure = error ?? new LabError('QMP_CLOSED', `QMP ${this.socketPath}: connection closed`);
		for (const [id, pending] of this.#pending) {
			clearTimeout(pending.timer);
			pending.reject(new LabError('QMP_CLOSED', `${pending.command}: ${failure.message}`));
			this.#pending.delete(id);
		}
		this.emit('close', error);
	}
}
