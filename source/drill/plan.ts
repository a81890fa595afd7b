// What a drill does: which VMs, from which restore points, in what order, how many at once,
// how long each may take to show proof of life. From the command line or a plan file (JSON,
// untrusted: validated with zod, every error names the file and the field).
import fs from 'node:fs/promises';
import { z } from 'zod';
import { restorePointIdSchema, vmNameSchema } from '../catalog/schema.ts';
import { EXIT, RundirectError } from '../core/errors.ts';

export const DEFAULT_CONCURRENCY = 2;
/** Real guests (Windows with its updates) may take minutes; the lab guest takes seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 300;
const MAX_TIMEOUT_SECONDS = 24 * 3600;

const timeoutSchema = z.number().int().min(1, 'must be at least 1 second').max(MAX_TIMEOUT_SECONDS, `must be at most ${MAX_TIMEOUT_SECONDS} seconds`);

/** How long an application may take to answer once the guest is up, unless the check says. */
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 120;

/**
 * An application check, either a command run inside the guest (no network needed: the guest
 * agent, PowerShell Direct) with its exit code and output kept as evidence, or a TCP port of the
 * VM that must answer on the drill's isolated network (the probe is on that network). Retried
 * until it passes or its time is up. A VM with checks is ready — and its dependents start — once
 * every check passed.
 */
export const drillCheckSchema = z
	.strictObject({
		/** The command and its arguments, each an element (nothing is parsed by a shell). */
		exec: z.array(z.string().min(1).max(4096)).min(1, 'needs the command to run').max(64).optional(),
		/** A TCP port of the VM that must accept a connection. */
		tcp: z.number().int().min(1, 'must be a port from 1 to 65535').max(65535, 'must be a port from 1 to 65535').optional(),
		/** Seconds from proof of life the check may keep failing before the VM fails. */
		timeoutSeconds: timeoutSchema.optional(),
	})
	.refine((check) => (check.exec === undefined) !== (check.tcp === undefined), { message: 'a check has either exec (a command run inside the guest) or tcp (a port that must answer), and not both' });

export type DrillCheckFile = z.infer<typeof drillCheckSchema>;

export const drillVmSchema = z.strictObject({
	vm: vmNameSchema,
	/** `latest` (default) or a restore point id. */
	point: restorePointIdSchema.optional(),
	/** VMs of this plan that must show proof of life before this one starts (e.g. a domain controller). */
	after: z.array(vmNameSchema).max(64).optional(),
	timeoutSeconds: timeoutSchema.optional(),
	/** Application checks, run in order once the guest shows proof of life. */
	checks: z.array(drillCheckSchema).max(16).optional(),
});

export const drillPlanSchema = z.strictObject({
	concurrency: z.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64').optional(),
	timeoutSeconds: timeoutSchema.optional(),
	/** Hyper-V: connect the drill's NICs to this isolated (Private/Internal) switch; absent or null = disconnected. */
	isolatedSwitch: z.string().min(1).max(128).nullable().optional(),
	keep: z.boolean().optional(),
	vms: z.array(drillVmSchema).min(1, 'a drill needs at least one VM').max(256),
});

export type DrillPlanFile = z.infer<typeof drillPlanSchema>;

export type DrillCheck = { exec: string[]; timeoutSeconds: number } | { tcp: number; timeoutSeconds: number };


export interface DrillVmSpec {
	vm: string;
	point: string;
	after: string[];
	timeoutSeconds: number;
	checks: DrillCheck[];
}

/**
 * What a plan run is: a drill (each VM under a marked drill name, isolated, stopped at the end),
 * or a site recovery (`start --runbook`: each VM under its own name, replacing the VM of that name,
 * on its own networks, left running from its backup for `finalize --plan`).
 */
export type PlanPurpose = 'drill' | 'recovery';

/** A drill, resolved and checked: every VM once, dependencies inside the drill and acyclic. */
export interface DrillSpec {
	vms: DrillVmSpec[];
	concurrency: number;
	isolatedSwitch: string | null;
	keep: boolean;
	/** Absent: a drill. */
	purpose?: PlanPurpose;
}

/**
 * Checks typed on one line (the console's drill dialog): `;` between them, each a command (split
 * at spaces, as `--check`) or `tcp:PORT` (as `--check-tcp`). Empty: none.
 */
export function checksFromText(text: string, timeoutSeconds = DEFAULT_CHECK_TIMEOUT_SECONDS): DrillCheck[] {
	return text
		.split(';')
		.map((part) => part.trim())
		.filter((part) => part.length > 0)
		.map((part): DrillCheck => {
			const tcp = /^tcp:(.*)$/i.exec(part);
			if (!tcp) return { exec: part.split(/\s+/), timeoutSeconds };
			const port = Number(tcp[1]);
			if (!/^\d+$/.test(tcp[1]?.trim() ?? '') || port < 1 || port > 65535) throw new RundirectError(`check "${part}": tcp: needs a port from 1 to 65535`, EXIT.usage);
			return { tcp: port, timeoutSeconds };
		});
}

/** Command-line values; each overrides the plan file's when given. */
export interface DrillArgs {
	vms?: string[];
	point?: string;
	concurrency?: number;
	timeoutSeconds?: number;
	keep?: boolean;
	isolatedSwitch?: string | null;
	/** `--check "<command>"`: application checks for every VM named on the command line. */
	checks?: string[];
	/** `--check-tcp <port>`: ports that must answer, for every VM named on the command line (after the --check commands). */
	tcpChecks?: number[];
}

function planError(file: string, field: string | null, message: string): RundirectError {
	return new RundirectError(`drill plan ${file}${field ? ` (field ${field})` : ''}: ${message}`, EXIT.usage);
}

/** Reads and validates a plan file; throws a usage error naming the file and the field. */
export async function readDrillPlan(file: string): Promise<DrillPlanFile> {
	let text: string;
	try {
		text = await fs.readFile(file, 'utf8');
	} catch (error) {
		throw new RundirectError(`drill plan ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.usage);
	}
	let json: unknown;
	try {
		json = JSON.parse(text);
	} catch (error) {
		throw planError(file, null, `not valid JSON: ${(error as Error).message}`);
	}
	const parsed = drillPlanSchema.safeParse(json);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw planError(file, issue && issue.path.length > 0 ? issue.path.join('.') : null, issue?.message ?? 'invalid');
	}
	checkGraph(parsed.data.vms.map((entry) => ({ vm: entry.vm, after: entry.after ?? [] })), (field, message) => planError(file, field, message));
	return parsed.data;
}

/** Every VM once; `after` names VMs of the drill, never itself; no cycle. */
function checkGraph(vms: Array<{ vm: string; after: string[] }>, fail: (field: string, message: string) => Error): void {
	const index = new Map<string, number>();
	vms.forEach((entry, position) => {
		if (index.has(entry.vm)) throw fail(`vms.${position}.vm`, `${entry.vm} is listed twice; a drill restores each VM once`);
		index.set(entry.vm, position);
	});
	vms.forEach((entry, position) => {
		entry.after.forEach((dependency, at) => {
			if (dependency === entry.vm) throw fail(`vms.${position}.after.${at}`, `${entry.vm} cannot wait for itself`);
			if (!index.has(dependency)) throw fail(`vms.${position}.after.${at}`, `${dependency} is not a VM of this drill (it has: ${vms.map((candidate) => candidate.vm).join(', ')})`);
		});
	});
	// Depth-first search for a cycle, naming it.
	const state = new Map<string, 'visiting' | 'done'>();
	const visit = (vm: string, trail: string[]): void => {
		if (state.get(vm) === 'done') return;
		if (state.get(vm) === 'visiting') throw fail(`vms.${index.get(vm) ?? 0}.after`, `the dependencies form a cycle: ${[...trail.slice(trail.indexOf(vm)), vm].join(' → ')}`);
		state.set(vm, 'visiting');
		for (const dependency of vms[index.get(vm) ?? 0]?.after ?? []) visit(dependency, [...trail, vm]);
		state.set(vm, 'done');
	};
	for (const entry of vms) visit(entry.vm, []);
}

/** The drill to run, from the command line, a plan file, or both (the command line wins). */
export function resolveDrillSpec(args: DrillArgs, plan: DrillPlanFile | null): DrillSpec {
	const given = args.vms ?? [];
	if (plan && given.length > 0) throw new RundirectError('name the VMs on the command line or in --plan, not both', EXIT.usage);
	if (!plan && given.length === 0) throw new RundirectError('name at least one VM to drill, or a plan file with --plan', EXIT.usage);
	for (const vm of given) {
		const check = vmNameSchema.safeParse(vm);
		if (!check.success) throw new RundirectError(`VM name ${JSON.stringify(vm)} ${check.error.issues[0]?.message ?? 'is invalid'}`, EXIT.usage);
	}
	if (args.point !== undefined && args.point !== 'latest' && !restorePointIdSchema.safeParse(args.point).success) throw new RundirectError(`--point ${JSON.stringify(args.point)} is not a restore point id`, EXIT.usage);
	const concurrency = args.concurrency ?? plan?.concurrency ?? DEFAULT_CONCURRENCY;
	if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new RundirectError(`--concurrency must be a whole number from 1 to 64, not ${concurrency}`, EXIT.usage);
	const timeout = args.timeoutSeconds ?? plan?.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
	if (!timeoutSchema.safeParse(timeout).success) throw new RundirectError(`--timeout must be a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}, not ${timeout}`, EXIT.usage);
	if (plan && (args.checks ?? []).length + (args.tcpChecks ?? []).length > 0) throw new RundirectError('give application checks on the command line (--check, --check-tcp) or in the plan file, not both', EXIT.usage);
	// On the command line a check is one string, split at spaces (no quoting: a plan file takes any argument).
	const commands = (args.checks ?? []).map((text) => text.split(/\s+/).filter(Boolean));
	if (commands.some((command) => command.length === 0)) throw new RundirectError('--check needs a command to run inside the guest, e.g. --check "pg_isready -q"', EXIT.usage);
	for (const port of args.tcpChecks ?? []) if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RundirectError(`--check-tcp needs a port from 1 to 65535, not ${port}`, EXIT.usage);
	const cliChecks: DrillCheckFile[] = [...commands.map((exec) => ({ exec })), ...(args.tcpChecks ?? []).map((tcp) => ({ tcp }))];
	const entries: DrillPlanFile['vms'] = plan ? plan.vms : given.map((vm) => ({ vm, checks: cliChecks }));
	const vms = entries.map((entry) => ({
		vm: entry.vm,
		point: args.point ?? entry.point ?? 'latest',
		after: entry.after ?? [],
		// A --timeout on the command line is for every VM; the plan's own per-VM values otherwise win.
		timeoutSeconds: args.timeoutSeconds ?? entry.timeoutSeconds ?? timeout,
		checks: (entry.checks ?? []).map((check): DrillCheck => {
			const timeoutSeconds = check.timeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS;
			return check.tcp !== undefined ? { tcp: check.tcp, timeoutSeconds } : { exec: check.exec ?? [], timeoutSeconds };
		}),
	}));
	checkGraph(vms, (field, message) => new RundirectError(`${field}: ${message}`, EXIT.usage));
	return { vms, concurrency, isolatedSwitch: args.isolatedSwitch ?? plan?.isolatedSwitch ?? null, keep: args.keep ?? plan?.keep ?? false };
}
