// The lab's real guest (`lab init --with-debian`: Debian with systemd, PostgreSQL and the QEMU
// guest agent), end to end through the real CLI on real QEMU (TCG): drills whose proof of life is
// the guest agent and whose application checks run inside the guest, one that fails with the
// command's output as evidence, and PostgreSQL's committed rows surviving start → finalize and a
// crash. Built once per machine into the shared test cache (debootstrap needs root: skipped, and
// said, without it).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../source/drill/index.ts';
import { debianBuildMissing } from '../../source/lab-builder/debian.ts';
import { guestExec, type GuestExecResult } from '../../source/qemu/guest-agent.ts';
import { listDefinitions } from '../../source/hosts/lab/definition.ts';
import { labSegment, runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { createLabEnv, type LabEnv, resultOf, waitFor } from '../support/lab-env.ts';

const missing = await debianBuildMissing();
let lab: LabEnv;

beforeAll(async () => {
	if (missing) return;
	lab = await createLabEnv();
	const init = await lab.cli(['lab', 'init', '--with-debian'], { timeoutMs: 1_500_000 });
	if (init.exitCode !== 0) throw new Error(`lab init --with-debian failed (exit ${init.exitCode}): ${init.stderr.slice(-2000)}`);
}, 1_560_000);

afterAll(async () => {
	await lab?.cleanup();
});

async function reportOf(events: Array<Record<string, unknown>>): Promise<DrillReport> {
	return JSON.parse(await fs.readFile(String(resultOf(events).report), 'utf8')) as DrillReport;
}

/** A command inside a lab VM's guest, through its guest agent. */
function inGuest(vm: string, argv: string[], timeoutMs = 60_000): Promise<GuestExecResult> {
	return guestExec(runtimeFiles(lab.lab.run, vm).qgaSocket, argv, timeoutMs);
}

function psql(sql: string): string[] {
	return ['runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql];
}

/** Waits until the guest agent of `vm` runs commands and PostgreSQL accepts connections. */
async function waitForPostgres(vm: string): Promise<void> {
	await waitFor(`PostgreSQL in ${vm}`, 240_000, async () => {
		const ready = await inGuest(vm, ['pg_isready', '-q'], 10_000).catch(() => null);
		return ready?.exitCode === 0 ? true : undefined;
	}, 1_000);
}

describe.skipIf(missing !== null)('the Debian guest on the lab host (real QEMU, TCG)', () => {
	it('a drill of both restore points (generation 1 BIOS/IDE qcow2, generation 2 UEFI/SCSI VHDX): proof of life by the guest agent, pg_isready checked inside the guest, port 5432 answering on the isolated network', async () => {
		const drill = await lab.cli(['drill', 'pg01', 'pg02', '--check', 'pg_isready', '--check-tcp', '5432', '--timeout', '600', '--json'], { timeoutMs: 900_000 });
		expect(drill.exitCode, drill.stderr).toBe(0);
		const report = await reportOf(drill.events);
		expect(report.outcome).toBe('passed');
		for (const vm of report.vms) {
			expect(vm.outcome).toBe('passed');
			expect(vm.proof).toBe('guest agent or serial marker');
			expect(vm.timeToRunningMs).toBeGreaterThan(0);
			expect(vm.timeToProofMs).toBeGreaterThanOrEqual(vm.timeToRunningMs as number);
			expect(vm.timeToReadyMs).toBeGreaterThanOrEqual(vm.timeToProofMs as number);
			expect(vm.checks).toMatchObject([{ command: ['pg_isready'], outcome: 'passed', exitCode: 0 }, { tcp: 5432, outcome: 'passed' }]);
			expect(vm.checks[0]?.stdout).toMatch(/accepting connections/);
			// Reached from inside the VM's own network namespace, at the guest's link-local address on the NIC's tap.
			const answered = vm.checks[1]?.connections?.find((connection) => connection.connected);
			expect(answered?.target, JSON.stringify(vm.checks[1])).toMatch(/^\[fe80::[0-9a-f:]+%rdtap0\]:5432$/);
			expect(answered?.detail).toMatch(/^connected in \d+ ms$/);
			expect(vm.cleanup.state).toBe('stopped');
			// The namespace went with the VM.
			expect(await fs.stat(path.join('/run/netns', labSegment(lab.lab.run, vm.drillName))).catch(() => null)).toBeNull();
		}
		expect(report.network).toMatch(/network namespace of its own/);
		// The whole plan's times: the last VM's.
		expect(report.allReadyMs).toBeGreaterThanOrEqual(Math.max(...report.vms.map((vm) => vm.timeToReadyMs as number)));
		const markdown = await fs.readFile(path.join(path.dirname(String(resultOf(drill.events).report)), 'report.md'), 'utf8');
		expect(markdown).toMatch(/time to application ready/);
		expect(markdown).toMatch(/Check `pg_isready`: passed/);
		expect(markdown).toMatch(/Check `TCP port 5432`: passed after \d+ attempt\(s\), \[fe80::[0-9a-f:]+%rdtap0\]:5432 connected in \d+ ms/);
		expect(markdown).toMatch(/accepting connections/);
	}, 900_000);

	it('an application check that keeps failing fails the VM, with the command, its exit code and its output as evidence; a port nobody listens on is refused by the guest itself', async () => {
		const plan = path.join(lab.root, 'failing-check.json');
		// Port 5999: nothing listens there, so pg_isready answers "no response" (exit 2) every time, and the guest's TCP stack refuses a connection.
		await fs.writeFile(plan, JSON.stringify({ timeoutSeconds: 600, vms: [{ vm: 'pg01', checks: [{ exec: ['pg_isready', '-h', '127.0.0.1', '-p', '5999'], timeoutSeconds: 8 }] }, { vm: 'pg02', checks: [{ tcp: 5432 }, { tcp: 5999, timeoutSeconds: 8 }] }] }));
		const drill = await lab.cli(['drill', '--plan', plan, '--json'], { timeoutMs: 900_000 });
		expect(drill.exitCode).toBe(1);
		const report = await reportOf(drill.events);
		const [vm, tcp] = report.vms;
		expect(tcp?.outcome).toBe('failed');
		expect(tcp?.checks[0]).toMatchObject({ tcp: 5432, outcome: 'passed' });
		expect(tcp?.checks[1]).toMatchObject({ tcp: 5999, outcome: 'failed' });
		expect(tcp?.checks[1]?.attempts).toBeGreaterThanOrEqual(2);
		expect(tcp?.reason).toMatch(/application check 2 \(TCP port 5999\) did not answer within 8 s of proof of life: \[fe80::[0-9a-f:]+%rdtap0\]:5999 ECONNREFUSED/);
		expect(vm?.outcome).toBe('failed');
		expect(vm?.timeToProofMs).not.toBeNull();
		expect(vm?.timeToReadyMs).toBeNull();
		expect(vm?.checks[0]).toMatchObject({ outcome: 'failed', exitCode: 2 });
		expect(vm?.checks[0]?.attempts).toBeGreaterThanOrEqual(2);
		expect(vm?.checks[0]?.stdout).toMatch(/127\.0\.0\.1:5999 - no response/);
		expect(vm?.reason).toMatch(/application check 1 \(pg_isready -h 127\.0\.0\.1 -p 5999\) exited 2 within 8 s of proof of life: 127\.0\.0\.1:5999 - no response/);
		expect(vm?.cleanup.state).toBe('stopped');
	}, 900_000);

	it.each([
		{ name: 'start → finalize', fault: null },
		{ name: 'the controller killed in the middle of step 5, then resume', fault: 'kill-during:copy-data' },
		{ name: 'the controller killed in the middle of step 6, then resume', fault: 'kill-during:apply-changes' },
	])('$name while PostgreSQL commits rows, then a crash: every committed row is on production and pg_amcheck finds nothing', async ({ fault }) => {
		const start = await lab.cli(['start', 'pg01', '--yes', '--json'], { timeoutMs: 300_000 });
		expect(start.exitCode, start.stderr).toBe(0);
		const session = String(resultOf(start.events).session);
		await waitForPostgres('pg01');
		expect((await inGuest('pg01', psql('CREATE TABLE orders (id serial PRIMARY KEY, note text NOT NULL)'))).exitCode).toBe(0);
		// Rows committed one transaction at a time while the finalize runs: each INSERT that returned is durable.
		let committed = 0;
		let writing = true;
		const writer = (async () => {
			while (writing) {
				const insert = await inGuest('pg01', psql(`INSERT INTO orders (note) VALUES ('row ${committed + 1}')`), 120_000);
				if (insert.exitCode !== 0) throw new Error(`INSERT failed: ${insert.stderr}`);
				committed++;
			}
		})();
		await waitFor('rows committed before the finalize', 120_000, async () => (committed >= 5 ? true : undefined));
		let finalize = await lab.cli(['finalize', session, '--yes', '--json'], { timeoutMs: 900_000, ...(fault ? { env: { RUNDIRECT_FAULT: fault } } : {}) });
		if (fault) {
			// Killed with the VM left running: the rows keep coming while no controller is there, and resume finishes the job.
			expect(finalize.signal, finalize.stderr).toBe('SIGKILL');
			const during = committed;
			await waitFor('rows committed with no controller', 120_000, async () => (committed >= during + 3 ? true : undefined));
			finalize = await lab.cli(['resume', '--json'], { timeoutMs: 900_000 });
		}
		expect(finalize.exitCode, finalize.stderr).toBe(0);
		const afterFinalize = committed;
		await waitFor('rows committed after the finalize', 120_000, async () => (committed >= afterFinalize + 3 ? true : undefined));
		writing = false;
		await writer;
		const before = committed;
		// A crash: QEMU killed, nothing flushed by the guest; then the VM boots from production alone.
		const [pid] = await lab.qemuPids();
		expect(pid).toBeDefined();
		process.kill(pid as number, 'SIGKILL');
		await waitFor('QEMU gone', 30_000, async () => ((await lab.qemuPids()).length === 0 ? true : undefined));
		const on = await lab.cli(['lab', 'poweron', 'pg01', '--json'], { timeoutMs: 300_000 });
		expect(on.exitCode, on.stderr).toBe(0);
		await waitForPostgres('pg01');
		const count = await inGuest('pg01', psql('SELECT count(*), max(id) FROM orders'));
		expect(count.exitCode, count.stderr).toBe(0);
		const [rows, maxId] = count.stdout.trim().split('|').map(Number);
		console.log(`PostgreSQL (${fault ?? 'no fault'}): ${before} rows committed through the finalize; after the crash ${rows} rows`);
		expect(rows).toBeGreaterThanOrEqual(before);
		expect(maxId).toBe(rows);
		// pg_amcheck lives with the server's binaries (Debian puts no wrapper for it on PATH).
		const check = await inGuest('pg01', ['runuser', '-u', 'postgres', '--', 'sh', '-c', 'exec /usr/lib/postgresql/*/bin/pg_amcheck --install-missing --all'], 240_000);
		expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0);
		// It ran from production storage alone: its definition names no backup.
		const definition = (await listDefinitions(lab.lab.vms)).find((entry) => entry.definition.name === 'pg01')?.definition;
		expect(definition?.disks[0]?.path.startsWith(lab.lab.production)).toBe(true);
		// Off again, for the next case to replace it.
		expect((await lab.cli(['lab', 'poweroff', 'pg01', '--json'])).exitCode).toBe(0);
	}, 1_200_000);
});
if (missing) it.skip(`the Debian guest: ${missing}`, () => undefined);
