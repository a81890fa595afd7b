// The QMP client against a real QEMU (-machine none -S): greeting, commands with ids, QMP
// errors as Error objects, timeouts, events, the one-client rule, reconnect, close.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { QmpClient, QmpError } from '../../source/hosts/lab/qmp.ts';
import { destroyEnv, makeEnv, type TestEnv } from './helpers.ts';

let env: TestEnv;
let socket: string;
const clients: QmpClient[] = [];

beforeEach(async () => {
	env = await makeEnv();
	socket = path.join(env.root, 'vm.qmp');
	await execa('qemu-system-x86_64', ['-machine', 'none', '-S', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`, '-pidfile', path.join(env.root, 'vm.pid'), '-daemonize'], { timeout: 30_000 });
});

afterEach(async () => {
	await Promise.all(clients.splice(0).map((client) => client.close()));
	await destroyEnv(env);
});

async function connect(timeoutMs = 5_000): Promise<QmpClient> {
	const client = await QmpClient.connect(socket, { timeoutMs });
	clients.push(client);
	return client;
}

it('greets, executes and maps QMP errors', async () => {
	const qmp = await connect();
	expect(qmp.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
	expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
	const error = await qmp.execute('no-such-command').catch((caught: unknown) => caught);
	expect(error).toBeInstanceOf(QmpError);
	expect(error).toMatchObject({ qmpClass: 'CommandNotFound' });
	expect((error as Error).message).toMatch(/no-such-command/);
	// Concurrent commands are told apart by id.
	const [a, b] = await Promise.all([qmp.execute<{ status: string }>('query-status'), qmp.execute<Array<{ name: string }>>('query-commands')]);
	expect(a.status).toBe('prelaunch');
	expect(b.length).toBeGreaterThan(10);
});

it('times out a command and stays usable', async () => {
	const qmp = await connect();
	// A frozen QEMU cannot answer: SIGSTOP it, time out, let it go on.
	const pid = Number.parseInt(await fs.readFile(path.join(env.root, 'vm.pid'), 'utf8'), 10);
	process.kill(pid, 'SIGSTOP');
	try {
		await expect(qmp.execute('query-status', undefined, { timeoutMs: 300 })).rejects.toThrow(/no answer within 300 ms/);
	} finally {
		process.kill(pid, 'SIGCONT');
	}
	// The late answer to the timed-out command is ignored; the next one gets its own.
	expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
});

it('delivers events (emitter and iterator)', async () => {
	const qmp = await connect();
	const resumed = qmp.waitForEvent('RESUME', () => true, 5_000);
	const abort = new AbortController();
	const iterated = (async () => {
		for await (const event of qmp.events(abort.signal)) if (event.event === 'STOP') return event;
		return null;
	})();
	await qmp.execute('cont');
	expect((await resumed).event).toBe('RESUME');
	await qmp.execute('stop');
	expect((await iterated)?.event).toBe('STOP');
	abort.abort();
});

it('serves one client at a time: a second connect times out until the first closes; reconnect works', async () => {
	const first = await connect();
	const started = Date.now();
	await expect(QmpClient.connect(socket, { timeoutMs: 400 })).rejects.toThrow(/no greeting within 400 ms/);
	expect(Date.now() - started).toBeLessThan(3_000);
	await first.close();
	const second = await connect();
	expect(await second.execute('query-status')).toMatchObject({ status: 'prelaunch' });
	await second.reconnect();
	expect(await second.execute('query-status')).toMatchObject({ status: 'prelaunch' });
});

it('fails fast when nothing listens, and reports the close when QEMU quits', async () => {
	await expect(QmpClient.connect(path.join(env.root, 'absent.qmp'), { timeoutMs: 300 })).rejects.toThrow(/no greeting within 300 ms/);
	const qmp = await connect();
	const closed = new Promise<Error | null>((resolve) => qmp.once('close', resolve));
	await qmp.execute('quit').catch(() => undefined);
	expect(await closed).toBeInstanceOf(Error);
	expect(qmp.connected).toBe(false);
	await expect(qmp.execute('query-status')).rejects.toThrow(/not connected/);
});
