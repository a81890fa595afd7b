// What the libvirt host says about a session while it runs: the domain's state, which storage
// it runs on, the bytes the guest changed (overlay allocation), the copy or apply job's progress,
// and proof of life: the lab guest's serial marker, or the QEMU guest agent where there is one.
// A drill's evidence is the serial console's tail.
import fs from 'node:fs/promises';
import { GUEST_MARKER } from '../../qemu/lab-guest.ts';
import type { Evidence, RestorePlan, RuntimeStatus } from '../host.ts';
import { diskTargets } from './domain-xml.ts';
import type { DomainFacts } from './domains.ts';
import { fillFiles, fillFraction, fillProcesses } from './fill.ts';
import { type LibvirtLayout, serialFileOf } from './layout.ts';
import { diskOf, type SessionDomain } from './session-domain.ts';

const SERIAL_SCAN_BYTES = 1 << 20;
const EVIDENCE_TAIL_BYTES = 16 * 1024;
const EVIDENCE_TAIL_LINES = 60;

export async function sessionStatus(session: SessionDomain, plan: RestorePlan): Promise<RuntimeStatus> {
	const facts = await session.own(plan);
	let bytesChanged: number | null = null;
	for (const disk of plan.disks) {
		const stats = await fs.stat(disk.overlay).catch(() => null);
		if (stats) bytesChanged = (bytesChanged ?? 0) + stats.blocks * 512;
	}
	const first = plan.disks[0];
	const live = first ? diskOf(facts, plan, first) : undefined;
	const runsOn = live?.source === first?.production && !live?.mirror ? 'production' : live?.source === first?.overlay ? 'backup' : 'unknown';
	if (!facts) return { vm: 'missing', runsOn: 'unknown', guestAlive: null, bytesChanged, job: null };
	if (facts.state === 'off') return { vm: 'off', runsOn, guestAlive: null, bytesChanged, job: null };
	const guestAlive = (await serialHead(session.layout, plan)).includes(GUEST_MARKER) || (await agentAnswers(session, plan));
	return { vm: facts.state, runsOn, guestAlive, bytesChanged, job: await jobOf(session, plan, facts) };
}

/** The guest's QEMU guest agent answers libvirt (its own API, not a passthrough that taints the domain). */
async function agentAnswers(session: SessionDomain, plan: RestorePlan): Promise<boolean> {
	const result = await session.virsh.tryRun(['guestinfo', plan.vmName, '--hostname'], { timeoutMs: 3_000, reconnectMs: 0 });
	return result.ok;
}

async function jobOf(session: SessionDomain, plan: RestorePlan, facts: DomainFacts): Promise<RuntimeStatus['job']> {
	const targets = diskTargets(plan.disks);
	const copying = plan.disks.filter((disk) => diskOf(facts, plan, disk)?.mirror);
	if (copying.length > 0) {
		let done = 0;
		let total = 0;
		for (const disk of copying) {
			const raw = await session.virsh.tryRun(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--raw']);
			done += Number(/cur=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
			total += Number(/end=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
		}
		const ready = copying.every((disk) => diskOf(facts, plan, disk)?.mirror?.ready);
		return { id: copying.map((disk) => `blockcopy:${targets[disk.index]?.dev}`).join(','), kind: 'apply', status: ready ? 'ready' : 'running', done, total, error: null };
	}
	const filling = [];
	for (const disk of plan.disks) if ((await fillProcesses(disk.production)).length > 0) filling.push(disk);
	if (filling.length === 0) return null;
	let done = 0;
	for (const disk of filling) done += Math.round((await fillFraction(fillFiles(plan.workDir, disk.index))) * disk.virtualSize);
	return { id: filling.map((disk) => `fill:disk${disk.index}`).join(','), kind: 'copy', status: 'running', done, total: filling.reduce((sum, disk) => sum + disk.virtualSize, 0), error: null };
}

/** The head of the serial log (truncated at each start): the marker comes early in boot. */
export async function serialHead(layout: LibvirtLayout, plan: RestorePlan): Promise<string> {
	const handle = await fs.open(serialFileOf(layout, plan.sessionId), 'r').catch(() => null);
	if (!handle) return '';
	try {
		const buffer = Buffer.alloc(SERIAL_SCAN_BYTES);
		const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
		return buffer.subarray(0, bytesRead).toString('latin1');
	} finally {
		await handle.close();
	}
}

/** The serial console's last lines: what the guest printed (or did not) — a drill's evidence. */
export async function serialEvidence(layout: LibvirtLayout, plan: RestorePlan): Promise<Evidence> {
	const file = serialFileOf(layout, plan.sessionId);
	const handle = await fs.open(file, 'r').catch(() => null);
	if (!handle) return { kind: 'serial-tail', text: '', file };
	try {
		const { size } = await handle.stat();
		const length = Math.min(size, EVIDENCE_TAIL_BYTES);
		const buffer = Buffer.alloc(length);
		const { bytesRead } = await handle.read(buffer, 0, length, size - length);
		const lines = buffer.subarray(0, bytesRead).toString('latin1').split(/\r?\n/);
		if (size > length && lines.length > 1) lines.shift();
		return { kind: 'serial-tail', text: lines.slice(-EVIDENCE_TAIL_LINES).join('\n'), file };
	} finally {
		await handle.close();
	}
}
