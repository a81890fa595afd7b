// The lab VMs' QMP monitors. QEMU serves one QMP client at a time, so a controller keeps at
// most one connection per VM, shared by every step, and a status poll only borrows a monitor:
// it must never hold the one another controller's finalize needs.
import { QmpClient } from './qmp.ts';
import { runningPid, runtimeFiles } from './runtime.ts';

const QMP_CONNECT_TIMEOUT_MS = 5_000;
/** A status poll gives up on the monitor quickly: another controller may hold it for minutes. */
const STATUS_CONNECT_TIMEOUT_MS = 750;

export class Monitors {
	readonly #connections = new Map<string, QmpClient>();

	constructor(readonly runDir: string) {}

	/** The VM's QMP connection, or null when it does not run. */
	async open(name: string): Promise<QmpClient | null> {
		const files = runtimeFiles(this.runDir, name);
		if ((await runningPid(files)) === null) {
			await this.release(name);
			return null;
		}
		const cached = this.#connections.get(files.key);
		if (cached?.connected) return cached;
		if (cached) {
			await cached.reconnect({ timeoutMs: QMP_CONNECT_TIMEOUT_MS });
			return cached;
		}
		const client = await QmpClient.connect(files.qmpSocket, { timeoutMs: QMP_CONNECT_TIMEOUT_MS });
		this.#connections.set(files.key, client);
		return client;
	}

	/** Closes and forgets the VM's connection, so the monitor is free for another controller. */
	async release(name: string): Promise<void> {
		const key = runtimeFiles(this.runDir, name).key;
		const client = this.#connections.get(key);
		this.#connections.delete(key);
		await client?.close();
	}

	async releaseAll(): Promise<void> {
		const clients = [...this.#connections.values()];
		this.#connections.clear();
		await Promise.all(clients.map((client) => client.close()));
	}

	/**
	 * Runs `query` on the VM's monitor without keeping it: our own connection when this process
	 * drives the VM, else a short-lived one. Null when another controller holds the monitor.
	 */
	async briefly<T>(name: string, query: (qmp: QmpClient) => Promise<T>): Promise<T | null> {
		const files = runtimeFiles(this.runDir, name);
		const own = this.#connections.get(files.key);
		const qmp = own?.connected ? own : await QmpClient.connect(files.qmpSocket, { timeoutMs: STATUS_CONNECT_TIMEOUT_MS }).catch(() => null);
		if (!qmp) return null;
		try {
			return await query(qmp);
		} finally {
			if (qmp !== own) await qmp.close();
		}
	}
}
