// Where drills are kept: `<state>/drills/<drill-id>/` holds report.json, report.md and the
// evidence files. The report is rewritten (atomically) as the drill goes, so a drill killed
// half-way still leaves what it knew, and the history shows it as interrupted. Evidence can
// hold what a guest printed at boot (secrets too): every file here is private to this user.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { EXIT, RundirectError } from '../core/errors.ts';
import { renderMarkdown, type DrillOutcome, type DrillReport } from './report.ts';
import { readTextIfExists } from '../core/files.ts';
import { mkdirPrivate, privateAtomic } from '../core/private-files.ts';

const ID_PATTERN = /^[0-9]{8}T[0-9]{4}-[0-9a-f]{6}$/;

export function drillsDir(stateDir: string): string {
	return path.join(stateDir, 'drills');
}

export function drillDir(stateDir: string, id: string): string {
	if (!ID_PATTERN.test(id)) throw new RundirectError(`${JSON.stringify(id)} is not a drill id (they look like 20261126T0102-a1b2c3)`, EXIT.usage);
	return path.join(drillsDir(stateDir), id);
}

/** `20261126T0102-a1b2c3`: sorts by time; the random part names the drill's VMs. */
export function newDrillId(now = new Date()): string {
	return `${now.toISOString().replace(/[-:]/g, '').slice(0, 13)}-${randomBytes(3).toString('hex')}`;
}

/** Evidence files are named after the VM (a validated VM name: plain characters only). */
export async function writeEvidence(stateDir: string, id: string, vm: string, evidence: { kind: 'serial-tail' | 'thumbnail'; text?: string; pngBase64?: string }): Promise<{ file: string; text: string | null }> {
	const folder = path.join(drillDir(stateDir, id), 'evidence');
	await mkdirPrivate(folder);
	if (evidence.kind === 'thumbnail' && evidence.pngBase64) {
		const file = `evidence/${vm}.png`;
		await writeFileAtomic(path.join(drillDir(stateDir, id), file), Buffer.from(evidence.pngBase64, 'base64'), privateAtomic());
		return { file, text: null };
	}
	const file = `evidence/${vm}.serial.txt`;
	const text = evidence.text ?? '';
	await writeFileAtomic(path.join(drillDir(stateDir, id), file), text.length > 0 ? `${text}\n` : '', privateAtomic());
	return { file, text };
}

async function readEvidenceTexts(stateDir: string, report: DrillReport): Promise<Map<string, string>> {
	const texts = new Map<string, string>();
	for (const vm of report.vms) {
		if (vm.evidence?.kind !== 'serial-tail') continue;
		const text = await fs.readFile(path.join(drillDir(stateDir, report.id), vm.evidence.file), 'utf8').catch(() => null);
		if (text !== null) texts.set(vm.vm, text.replace(/\n$/, ''));
	}
	return texts;
}

/** Writes report.json and report.md (both atomically). */
export async function saveReport(stateDir: string, report: DrillReport): Promise<{ json: string; markdown: string }> {
	const dir = drillDir(stateDir, report.id);
	await mkdirPrivate(dir);
	const json = path.join(dir, 'report.json');
	const markdown = path.join(dir, 'report.md');
	await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`, privateAtomic());
	await writeFileAtomic(markdown, renderMarkdown(report, await readEvidenceTexts(stateDir, report)), privateAtomic());
	return { json, markdown };
}

/** A report still "running" whose process is gone was interrupted (killed, host rebooted). */
function effectiveOutcome(report: DrillReport): DrillOutcome {
	if (report.outcome !== 'running' || report.hostname !== os.hostname()) return report.outcome;
	try {
		process.kill(report.pid, 0);
		return 'running';
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'interrupted';
	}
}

/** One drill's report, by id; null when there is none. */
export async function readDrill(stateDir: string, id: string): Promise<DrillReport | null> {
	const text = await readTextIfExists(path.join(drillDir(stateDir, id), 'report.json'));
	if (text === null) return null;
	try {
		const report = JSON.parse(text) as DrillReport;
		return { ...report, outcome: effectiveOutcome(report) };
	} catch (error) {
		throw new Error(`drill report ${path.join(drillDir(stateDir, id), 'report.json')} cannot be read: ${(error as Error).message}`, { cause: error });
	}
}

export interface DrillSummary {
	id: string;
	host: string;
	startedAt: string;
	endedAt: string | null;
	outcome: DrillOutcome;
	dir: string;
	vms: Array<{ vm: string; outcome: string; timeToRunningMs: number | null; timeToProofMs: number | null }>;
}

/** Every drill kept in the state directory, newest first. Unreadable reports are reported, not hidden. */
export async function listDrills(stateDir: string): Promise<{ drills: DrillSummary[]; problems: string[] }> {
	let names: string[];
	try {
		names = await fs.readdir(drillsDir(stateDir));
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { drills: [], problems: [] };
		throw error;
	}
	const drills: DrillSummary[] = [];
	const problems: string[] = [];
	for (const name of names.filter((candidate) => ID_PATTERN.test(candidate))) {
		try {
			const report = await readDrill(stateDir, name);
			if (!report) continue;
			drills.push({
				id: report.id,
				host: report.host,
				startedAt: report.startedAt,
				endedAt: report.endedAt,
				outcome: report.outcome,
				dir: drillDir(stateDir, report.id),
				vms: report.vms.map((vm) => ({ vm: vm.vm, outcome: vm.outcome, timeToRunningMs: vm.timeToRunningMs, timeToProofMs: vm.timeToProofMs })),
			});
		} catch (error) {
			problems.push((error as Error).message);
		}
	}
	drills.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
	return { drills, problems };
}
