// Step 1 and its two endings. The domain being replaced is shut off and renamed to
// `<name>~<session>`; nothing else of it changes (its definition and disks stay exactly as
// they are), and whether it ran is kept in a small record file written before it is touched.
// Stop renames it back and starts it if it ran; finalize undefines it and deletes its disks.
// Each step reads the host first, so a crash at any point is finished by running it again.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { readTextIfExists } from '../../core/files.ts';
import { mkdirPrivate, privateAtomic } from '../../core/private-files.ts';
import type { RestorePlan, SetAsideRecord } from '../host.ts';
import { parseDisks, unescapeXml } from './domain-xml.ts';
import type { Domains } from './domains.ts';

export function asideNameOf(name: string, sessionId: string): string {
	return `${name}~${sessionId}`;
}

/** The records of set-aside domains, one file per domain: <dir>/<asideName>.json. */
export class AsideRecords {
	constructor(readonly dir: string) {}

	file(asideName: string): string {
		return path.join(this.dir, `${asideName}.json`);
	}

	async read(asideName: string): Promise<SetAsideRecord | null> {
		const text = await readTextIfExists(this.file(asideName));
		if (text === null) return null;
		const parsed = JSON.parse(text) as SetAsideRecord;
		return typeof parsed.name === 'string' && typeof parsed.asideName === 'string' ? parsed : null;
	}

	async write(record: SetAsideRecord): Promise<void> {
		await mkdirPrivate(this.dir);
		await writeFileAtomic(this.file(record.asideName), `${JSON.stringify(record, null, 2)}\n`, privateAtomic());
	}

	async remove(asideName: string): Promise<void> {
		await fs.rm(this.file(asideName), { force: true });
	}
}

function wasRunningOf(record: SetAsideRecord): boolean {
	return record.details.wasRunning === true;
}

export async function setAside(domains: Domains, records: AsideRecords, plan: RestorePlan): Promise<SetAsideRecord | null> {
	const name = plan.replaces;
	if (name === null) return null;
	const asideName = asideNameOf(name, plan.sessionId);
	const aside = await domains.facts(asideName);
	if (aside) {
		// Renamed already (a rerun): make sure it stays off.
		if (aside.state !== 'off') await domains.destroy(asideName);
		return (await records.read(asideName)) ?? { name, asideName, details: { wasRunning: false } };
	}
	const current = await domains.facts(name);
	if (!current || current.restoreSession === plan.sessionId) return null;
	if (!current.persistent) throw new Error(`Domain ${name} is transient: it cannot be set aside (define it first, or replace it with --delete-replaced)`);
	// The record goes first: a rerun after the power-off must still know the domain was running.
	let record = await records.read(asideName);
	if (!record) {
		record = { name, asideName, details: { wasRunning: current.state === 'running' || current.state === 'paused' } };
		await records.write(record);
	}
	if (current.state !== 'off') await domains.destroy(name);
	await domains.virsh.run(['domrename', name, asideName]);
	return record;
}

export async function restoreAside(domains: Domains, records: AsideRecords, record: SetAsideRecord): Promise<void> {
	const aside = await domains.facts(record.asideName);
	if (aside) {
		if (await domains.facts(record.name)) throw new Error(`Cannot bring ${record.name} back: a domain of that name exists again; rename or remove it, then stop again`);
		if (aside.state !== 'off') await domains.destroy(record.asideName);
		await domains.virsh.run(['domrename', record.asideName, record.name]);
	}
	const restored = await domains.facts(record.name);
	if (!restored) throw new Error(`The set-aside domain ${record.asideName} is gone: ${record.name} cannot be brought back`);
	if (wasRunningOf(record) && restored.state === 'off' && (await records.read(record.asideName))) await domains.virsh.run(['start', record.name]);
	// Last: until it is gone, a rerun still knows to start the domain.
	await records.remove(record.asideName);
}

/** Serial logs of an earlier restore's domain that lie in our serial folder: they go with it. */
function ownSerialLogs(xml: string, serialDir: string): string[] {
	return [...xml.matchAll(/<serial type='file'>\s*<source path='([^']+)'/g)].map((match) => unescapeXml(match[1] ?? '')).filter((file) => path.dirname(file) === serialDir);
}

/** Deletes a domain's disk files (local hosts) except those `keep` names, then undefines it. */
async function removeDomain(domains: Domains, name: string, keep: ReadonlySet<string>, serialDir?: string): Promise<void> {
	const facts = await domains.facts(name);
	if (!facts) return;
	const definition = await domains.virsh.run(['dumpxml', name, '--inactive']).catch(() => '');
	const disks = definition ? parseDisks(definition) : facts.disks;
	const files = disks.filter((disk) => disk.device === 'disk' && disk.source !== null).map((disk) => disk.source as string);
	if (serialDir) files.push(...ownSerialLogs(definition, serialDir));
	if (facts.state !== 'off') await domains.destroy(name);
	for (const file of files) if (!keep.has(file)) await fs.rm(file, { force: true });
	// Last, so a rerun still knows which files were the domain's.
	await domains.undefine(name);
}

function sessionFiles(plan: RestorePlan): Set<string> {
	return new Set(plan.disks.flatMap((disk) => [disk.backup, disk.overlay, disk.production]));
}

export async function purgeAside(domains: Domains, records: AsideRecords, plan: RestorePlan, record: SetAsideRecord, serialDir: string): Promise<void> {
	await removeDomain(domains, record.asideName, sessionFiles(plan), serialDir);
	await records.remove(record.asideName);
}

/** `--delete-replaced`: the existing domain and its disks go for good. */
export async function deleteReplaced(domains: Domains, plan: RestorePlan): Promise<void> {
	const name = plan.replaces;
	if (name === null) return;
	const current = await domains.facts(name);
	if (!current || current.restoreSession === plan.sessionId) return;
	await removeDomain(domains, name, sessionFiles(plan));
}
