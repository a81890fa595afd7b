// The drill's plan and scheduling rules, without a host: what the command line and a plan file
// resolve to, and the slot queue that enforces the concurrency limit.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_SECONDS, drillVmName, resolveDrillSpec } from '../../source/drill/index.ts';
import { checksFromText, DEFAULT_CHECK_TIMEOUT_SECONDS, drillPlanSchema } from '../../source/drill/plan.ts';
import { Slots } from '../../source/drill/schedule.ts';

describe('drill plans', () => {
	it('the command line names VMs with defaults; a plan file gives order, dependencies and per-VM timeouts; command-line values win', () => {
		expect(resolveDrillSpec({ vms: ['web01', 'db01'] }, null)).toEqual({
			vms: [
				{ vm: 'web01', point: 'latest', after: [], timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, checks: [] },
				{ vm: 'db01', point: 'latest', after: [], timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, checks: [] },
			],
			concurrency: DEFAULT_CONCURRENCY,
			isolatedSwitch: null,
			keep: false,
		});
		const plan = { concurrency: 3, timeoutSeconds: 90, vms: [{ vm: 'dc01', timeoutSeconds: 600 }, { vm: 'web01', after: ['dc01'], point: 'p1' }] };
		const fromPlan = resolveDrillSpec({}, plan);
		expect(fromPlan.concurrency).toBe(3);
		expect(fromPlan.vms).toEqual([
			{ vm: 'dc01', point: 'latest', after: [], timeoutSeconds: 600, checks: [] },
			{ vm: 'web01', point: 'p1', after: ['dc01'], timeoutSeconds: 90, checks: [] },
		]);
		const overridden = resolveDrillSpec({ concurrency: 1, timeoutSeconds: 10, keep: true }, plan);
		expect(overridden.concurrency).toBe(1);
		expect(overridden.keep).toBe(true);
		expect(overridden.vms.map((vm) => vm.timeoutSeconds)).toEqual([10, 10]);
	});

	it('application checks: from the command line for every VM named (split at spaces), or per VM from a plan file, each with its time', () => {
		const cli = resolveDrillSpec({ vms: ['pg01', 'pg02'], checks: ['pg_isready  -q', 'true'] }, null);
		expect(cli.vms.map((vm) => vm.checks)).toEqual([
			[{ exec: ['pg_isready', '-q'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS }, { exec: ['true'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS }],
			[{ exec: ['pg_isready', '-q'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS }, { exec: ['true'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS }],
		]);
		const plan = { vms: [{ vm: 'pg01', checks: [{ exec: ['psql', '-c', 'SELECT 1'], timeoutSeconds: 30 }] }, { vm: 'web01', after: ['pg01'] }] };
		expect(resolveDrillSpec({}, plan).vms.map((vm) => vm.checks)).toEqual([[{ exec: ['psql', '-c', 'SELECT 1'], timeoutSeconds: 30 }], []]);
		expect(() => resolveDrillSpec({ checks: ['true'] }, plan)).toThrow(/--check, --check-tcp\) or in the plan file, not both/);
		expect(() => resolveDrillSpec({ vms: ['pg01'], checks: ['  '] }, null)).toThrow(/--check needs a command/);
		expect(drillPlanSchema.safeParse({ vms: [{ vm: 'pg01', checks: [{ exec: [] }] }] }).error?.issues[0]?.message).toMatch(/needs the command to run/);
		expect(drillPlanSchema.safeParse({ vms: [{ vm: 'pg01', checks: [{ exec: ['true'], shell: true }] }] }).success).toBe(false);
	});

	it('TCP checks: a port per check, from a plan file or --check-tcp (after the --check commands); exactly one of exec and tcp', () => {
		const cli = resolveDrillSpec({ vms: ['pg01'], checks: ['pg_isready'], tcpChecks: [5432] }, null);
		expect(cli.vms[0]?.checks).toEqual([
			{ exec: ['pg_isready'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS },
			{ tcp: 5432, timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS },
		]);
		const plan = drillPlanSchema.parse({ vms: [{ vm: 'pg01', checks: [{ tcp: 5432, timeoutSeconds: 20 }] }] });
		expect(resolveDrillSpec({}, plan).vms[0]?.checks).toEqual([{ tcp: 5432, timeoutSeconds: 20 }]);
		expect(() => resolveDrillSpec({ vms: ['pg01'], tcpChecks: [0] }, null)).toThrow(/--check-tcp needs a port from 1 to 65535, not 0/);
		expect(() => resolveDrillSpec({ tcpChecks: [5432] }, plan)).toThrow(/not both/);
		const issue = (check: unknown) => drillPlanSchema.safeParse({ vms: [{ vm: 'pg01', checks: [check] }] }).error?.issues[0];
		expect(issue({ tcp: 70000 })?.message).toMatch(/a port from 1 to 65535/);
		expect(issue({ tcp: 5432, exec: ['true'] })?.message).toMatch(/either exec .* or tcp .*, and not both/);
		expect(issue({ timeoutSeconds: 5 })?.message).toMatch(/either exec/);
	});

	it('checks typed on one line (the console): ; between them, each a command split at spaces or tcp:PORT, with the timeout given', () => {
		expect(checksFromText('  pg_isready  -q ; tcp:5432;;', 30)).toEqual([
			{ exec: ['pg_isready', '-q'], timeoutSeconds: 30 },
			{ tcp: 5432, timeoutSeconds: 30 },
		]);
		expect(checksFromText('')).toEqual([]);
		expect(checksFromText('true')).toEqual([{ exec: ['true'], timeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS }]);
		expect(() => checksFromText('tcp:http')).toThrow(/check "tcp:http": tcp: needs a port from 1 to 65535/);
		expect(() => checksFromText('tcp:0')).toThrow(/a port from 1 to 65535/);
	});

	it('refuses what cannot be run, before anything happens', () => {
		expect(() => resolveDrillSpec({}, null)).toThrow(/name at least one VM/);
		expect(() => resolveDrillSpec({ vms: ['web01'] }, { vms: [{ vm: 'db01' }] })).toThrow(/not both/);
		expect(() => resolveDrillSpec({ vms: ['../etc'] }, null)).toThrow(/may contain only/);
		expect(() => resolveDrillSpec({ vms: ['web01'], concurrency: 0 }, null)).toThrow(/--concurrency/);
		expect(() => resolveDrillSpec({ vms: ['web01'], timeoutSeconds: 0 }, null)).toThrow(/--timeout/);
		expect(() => resolveDrillSpec({ vms: ['web01', 'web01'] }, null)).toThrow(/listed twice/);
	});

	it('drill names are marked, unique to the drill and within the 64-character VM name limit', () => {
		expect(drillVmName('web01', '20261126T0102-a1b2c3')).toBe('web01-drill-a1b2c3');
		const long = drillVmName('v'.repeat(64), '20261126T0102-a1b2c3');
		expect(long).toHaveLength(64);
		expect(long.endsWith('-drill-a1b2c3')).toBe(true);
	});
});

describe('slots', () => {
	it('hold at most the limit, served first come, first served', async () => {
		const slots = new Slots(1);
		const order: string[] = [];
		const first = await slots.acquire();
		const second = slots.acquire().then((release) => {
			order.push('second');
			return release;
		});
		const third = slots.acquire().then((release) => {
			order.push('third');
			return release;
		});
		await new Promise((resolve) => setTimeout(resolve, 10));
		expect(order).toEqual([]);
		first();
		(await second)();
		(await third)();
		expect(order).toEqual(['second', 'third']);
		const aborted = new AbortController();
		const held = await slots.acquire();
		const waiting = slots.acquire(aborted.signal);
		aborted.abort();
		await expect(waiting).rejects.toThrow(/interrupted/);
		held();
		// The cancelled waiter gave its place up: the slot is free again.
		(await slots.acquire())();
	});
});
