// What the lab host and its VMs look like right now: the host's description, the inventory,
// and a session's runtime status. Read-only, and quick: a poll borrows a VM's monitor only
// briefly (see monitor.ts), and a monitor held by another controller is an answer, not an error.
import fs from 'node:fs/promises';
import type { HostDescription, HostVm, JobStatus, RestorePlan, RuntimeStatus } from '../host.ts';
import { disksOnProduction } from './block-nodes.ts';
import type { LabContext } from './context.ts';
import { listDefinitions } from './definition.ts';
import { type QemuJob, queryJobs } from './jobs.ts';
import { QEMU_SYSTEM, qemuVersion } from '../../qemu/qemu-img.ts';
import { runningPid, runtimeFiles } from './runtime.ts';
import { guestMarkerSeen } from './serial.ts';
import { guestAgentAnswers } from '../../qemu/guest-agent.ts';
import { ownDefinition } from './session-vm.ts';
import { freeBytes } from '../../core/space.ts';

type VmRunState = 'running' | 'paused' | 'off' | 'error';

/** A guest agent answers a ping in milliseconds; one that is not (yet) running costs a status poll this much. */
const AGENT_PING_MS = 300;

function mapRunState(status: string): VmRunState {
	if (status === 'running' || status === 'finish-migrate') return 'running';
	if (status === 'paused' || status === 'prelaunch' || status === 'suspended' || status === 'inmigrate' || status === 'restore-vm' || status === 'save-vm' || status === 'debug' || status === 'postmigrate' || status === 'colo') return 'paused';
	if (status === 'shutdown') return 'off';
	return 'error';
}

export async function describeLab(context: LabContext, id: string): Promise<HostDescription> {
	const warnings: string[] = [];
	let summary = 'QEMU (not found)';
	try {
		const version = await qemuVersion();
		const verdict = await context.accelerator();
		summary = `QEMU ${version}, ${verdict.accel.toUpperCase()}`;
		if (verdict.accel === 'tcg' && verdict.source !== 'env' && /KVM is present/.test(verdict.reason)) warnings.push(verdict.reason);
		if (verdict.accel === 'kvm' && verdict.probe === 'boot-sector') {
			warnings.push('KVM was only probed with a boot sector: run `lab init` so the lab guest confirms it can run guests');
		}
	} catch (error) {
		warnings.push(`${QEMU_SYSTEM} is not usable: ${(error as Error).message}`);
	}
	let free: number | null;
	try {
		free = await freeBytes(context.lab.production);
	} catch {
		free = null;
	}
	return { kind: 'lab', id, summary, productionStorage: context.lab.production, freeBytes: free, warnings };
}

export async function inventory(context: LabContext): Promise<HostVm[]> {
	const result: HostVm[] = [];
	for (const { definition } of await listDefinitions(context.lab.vms)) {
		const state = definition.setAsideBy !== null ? 'off' : await runState(context, definition.name);
		result.push({
			name: definition.name,
			id: definition.id,
			state,
			runningFromBackup: definition.runningFromBackup,
			setAside: definition.setAsideBy !== null,
			disks: definition.disks.map((disk) => disk.path),
		});
	}
	return result;
}

async function runState(context: LabContext, name: string): Promise<VmRunState> {
	const files = runtimeFiles(context.lab.run, name);
	if ((await runningPid(files)) === null) return 'off';
	const state = await context.monitors.briefly(name, async (qmp) => mapRunState((await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: 2_000 })).status)).catch(() => null);
	// Null: alive but the monitor is held by another controller; the process is the proof.
	return state ?? 'running';
}

export async function sessionStatus(context: LabContext, plan: RestorePlan): Promise<RuntimeStatus> {
	const definition = await ownDefinition(context, plan);
	let bytesChanged: number | null = null;
	for (const disk of plan.disks) {
		const stats = await fs.stat(disk.overlay).catch(() => null);
		if (stats) bytesChanged = (bytesChanged ?? 0) + stats.blocks * 512;
	}
	const fromDefinition = (): RuntimeStatus['runsOn'] => {
		const first = definition?.disks[0]?.path;
		if (first === plan.disks[0]?.production) return 'production';
		if (first === plan.disks[0]?.overlay) return 'backup';
		return 'unknown';
	};
	const files = runtimeFiles(context.lab.run, plan.vmName);
	const alive = definition !== null && (await runningPid(files)) !== null;
	if (!alive) return { vm: definition ? 'off' : 'missing', runsOn: fromDefinition(), guestAlive: null, bytesChanged, job: null };
	// Any guest that runs qemu-guest-agent proves itself through it; the sample guest by its serial marker.
	const guestAlive = (await guestMarkerSeen(files.serialFile)) || (await guestAgentAnswers(files.qgaSocket, AGENT_PING_MS));
	const live = await context.monitors.briefly(plan.vmName, async (qmp): Promise<RuntimeStatus> => {
		const status = await qmp.execute<{ status: string }>('query-status');
		const onProduction = await disksOnProduction(qmp);
		const jobs = (await queryJobs(qmp)).filter((job) => /^rd-(copy|apply)\d+$/.test(job.id));
		return {
			vm: mapRunState(status.status),
			runsOn: onProduction.has(0) ? 'production' : fromDefinition() === 'production' ? 'unknown' : 'backup',
			guestAlive,
			bytesChanged,
			job: summarizeJobs(jobs),
		};
	});
	return live ?? { vm: 'running', runsOn: fromDefinition(), guestAlive, bytesChanged, job: null, note: 'another controller holds the VM monitor' };
}

function summarizeJobs(jobs: QemuJob[]): JobStatus | null {
	const first = jobs[0];
	if (!first) return null;
	const active = jobs.find((job) => job.status !== 'concluded') ?? first;
	return {
		id: jobs.map((job) => job.id).join(','),
		kind: first.id.startsWith('rd-copy') ? 'copy' : 'apply',
		status: active.status,
		done: jobs.reduce((sum, job) => sum + job['current-progress'], 0),
		total: jobs.reduce((sum, job) => sum + job['total-progress'], 0),
		error: jobs.map((job) => job.error).find((error) => error !== undefined) ?? null,
	};
}
