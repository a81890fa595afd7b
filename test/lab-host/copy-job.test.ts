// Step 5's copy job: with the kernel offload on a real QEMU the production image is the
// backup byte for byte; a QEMU that does not know the offload knob still gets the copy.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startFullCopy, waitJobs } from '../../source/hosts/lab/jobs.ts';
import { QmpClient, QmpError } from '../../source/hosts/lab/qmp.ts';
import { destroyEnv, makeBackup, makeEnv, MiB, type TestEnv } from './helpers.ts';

let env: TestEnv;
const clients: QmpClient[] = [];
const servers: net.Server[] = [];

beforeEach(async () => {
	env = await makeEnv();
});

afterEach(async () => {
	await Promise.all(clients.splice(0).map((client) => client.close()));
	await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
	await destroyEnv(env);
});

async function connect(socket: string): Promise<QmpClient> {
	const client = await QmpClient.connect(socket, { timeoutMs: 5_000 });
	clients.push(client);
	return client;
}

it('copies a backup into a production image byte for byte with the offload on', async () => {
	const size = 64 * MiB;
	// Data at the start, the end and across a cluster boundary; the rest stays unallocated.
	const backup = await makeBackup(path.join(env.root, 'b'), 'disk0', size, [
		{ pattern: 0x5a, offset: 0, length: 3 * MiB },
		{ pattern: 0xa7, offset: 20 * MiB + 4096, length: 5 * MiB },
		{ pattern: 0x3c, offset: size - MiB, length: MiB },
	]);
	const production = path.join(env.root, 'prod.qcow2');
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', production, String(size)]);
	const socket = path.join(env.root, 'vm.qmp');
	await execa('qemu-system-x86_64', ['-machine', 'none', '-S', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`, '-pidfile', path.join(env.root, 'vm.pid'), '-daemonize'], { timeout: 30_000 });
	const qmp = await connect(socket);
	await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'src', 'read-only': true, file: { driver: 'file', filename: backup, 'read-only': true } });
	await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'prod', file: { driver: 'file', filename: production } });

	await startFullCopy(qmp, { 'job-id': 'copy', device: 'src', target: 'prod', sync: 'full', 'auto-dismiss': false });
	const jobs = await waitJobs(qmp, ['copy'], { until: 'concluded', stallMs: 30_000 });
	expect(jobs.get('copy')?.error).toBeUndefined();
	expect(jobs.get('copy')?.['current-progress']).toBe(size);
	await qmp.execute('job-dismiss', { id: 'copy' });
	await qmp.execute('blockdev-del', { 'node-name': 'prod' });

	const compare = await execa('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', backup, production], { reject: false });
	expect(compare.stdout).toMatch(/identical/);
	expect(compare.exitCode).toBe(0);
});

/** A QMP peer that answers like a QEMU without `x-perf` (QEMU < 6.0), recording what it was sent. */
async function qemuWithoutXPerf(socket: string, received: Array<Record<string, unknown>>): Promise<void> {
	const server = net.createServer((connection) => {
		connection.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 5, minor: 2, micro: 0 }, package: '' }, capabilities: [] } })}\r\n`);
		let buffered = '';
		connection.on('data', (chunk) => {
			buffered += chunk.toString('utf8');
			for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
				const line = buffered.slice(0, end).trim();
				buffered = buffered.slice(end + 1);
				if (!line) continue;
				const command = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown>; id?: unknown };
				received.push({ execute: command.execute, ...command.arguments });
				const answer =
					command.execute === 'blockdev-backup' && command.arguments?.device === 'missing'
						? { error: { class: 'GenericError', desc: "Cannot find device='missing' nor node-name='missing'" }, id: command.id }
						: command.execute === 'blockdev-backup' && command.arguments && 'x-perf' in command.arguments
							? { error: { class: 'GenericError', desc: "Parameter 'x-perf' is unexpected" }, id: command.id }
							: { return: {}, id: command.id };
				connection.write(`${JSON.stringify(answer)}\r\n`);
			}
		});
	});
	servers.push(server);
	await new Promise<void>((resolve) => server.listen(socket, resolve));
}

it('falls back to the plain copy on a QEMU without x-perf, and passes on any other error', async () => {
	const socket = path.join(env.root, 'old.qmp');
	const received: Array<Record<string, unknown>> = [];
	await qemuWithoutXPerf(socket, received);
	const qmp = await connect(socket);
	const args = { 'job-id': 'copy', device: 'src', target: 'prod', sync: 'full', 'auto-dismiss': false, speed: 1024 };

	await startFullCopy(qmp, args);
	const backups = received.filter((command) => command.execute === 'blockdev-backup');
	expect(backups).toEqual([
		{ execute: 'blockdev-backup', ...args, 'x-perf': { 'use-copy-range': true } },
		{ execute: 'blockdev-backup', ...args },
	]);

	received.length = 0;
	const error = await startFullCopy(qmp, { ...args, device: 'missing' }).catch((caught: unknown) => caught);
	expect(error).toBeInstanceOf(QmpError);
	expect((error as QmpError).desc).toMatch(/missing/);
	// An error that is not about x-perf is the caller's: no retry without it.
	expect(received.filter((command) => command.execute === 'blockdev-backup')).toHaveLength(1);
	await fs.rm(socket, { force: true });
});
