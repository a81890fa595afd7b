// The journal: one JSON file per session under <state>/sessions, replaced atomically
// (write to a temporary file, fsync, rename) so a crash leaves either the old or the new
// record, never a torn one.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { mkdirPrivate, privateAtomic } from '../core/private-files.ts';
import type { SessionRecord } from './session.ts';

export class Journal {
	readonly dir: string;

	constructor(stateDir: string) {
		this.dir = path.join(stateDir, 'sessions');
	}

	file(id: string): string {
		return path.join(this.dir, `${id}.json`);
	}

	async write(session: SessionRecord): Promise<void> {
		session.updatedAt = new Date().toISOString();
		// A journal names every path of a restore: private to this user (the state folder too).
		await mkdirPrivate(this.dir);
		await writeFileAtomic(this.file(session.id), `${JSON.stringify(session, null, 2)}\n`, privateAtomic({ fsync: true }));
	}

	/** Where finished sessions go when pruned: kept as an audit record, out of every listing. */
	get archiveDir(): string {
		return path.join(path.dirname(this.dir), 'archive', 'sessions');
	}

	/** Moves a session's entry to the archive (same filesystem: a rename); its path there. */
	async archive(id: string): Promise<string> {
		await fs.mkdir(this.archiveDir, { recursive: true });
		const target = path.join(this.archiveDir, `${id}.json`);
		await fs.rename(this.file(id), target);
		return target;
	}

	async read(id: string): Promise<SessionRecord | null> {
		try {
			return JSON.parse(await fs.readFile(this.file(id), 'utf8')) as SessionRecord;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
			throw new Error(`journal entry ${this.file(id)} cannot be read: ${(error as Error).message}`, { cause: error });
		}
	}

	/**
	 * Every session, newest first. Unreadable entries are reported, not hidden. The console
	 * lists every 1.5 s, so an entry whose file is unchanged (same inode, size and mtime; every
	 * write is a rename onto a new inode) is parsed from the text read last time instead of
	 * read again: 1,000 sessions took ≈ 220 ms a poll before this.
	 */
	async list(): Promise<{ sessions: SessionRecord[]; problems: string[] }> {
		let names: string[];
		try {
			names = (await fs.readdir(this.dir)).filter((name) => name.endsWith('.json'));
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { sessions: [], problems: [] };
			throw error;
		}
		const sessions: SessionRecord[] = [];
		const problems: string[] = [];
		const entries = await mapInBatches(names, LIST_BATCH, (name) => this.#readListed(name));
		for (const entry of entries) {
			if (entry instanceof Error) problems.push(entry.message);
			else if (entry) sessions.push(entry);
		}
		const present = new Set(names);
		for (const name of this.#listed.keys()) if (!present.has(name)) this.#listed.delete(name);
		sessions.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
		return { sessions, problems };
	}

	readonly #listed = new Map<string, { signature: string; text: string }>();

	async #readListed(name: string): Promise<SessionRecord | Error | null> {
		const file = path.join(this.dir, name);
		try {
			const stat = await fs.stat(file);
			const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
			const cached = this.#listed.get(name);
			let text = cached?.signature === signature ? cached.text : undefined;
			if (text === undefined) {
				text = await fs.readFile(file, 'utf8');
				this.#listed.set(name, { signature, text });
			}
			// Parsed each time: callers own (and may change) the records they get.
			return JSON.parse(text) as SessionRecord;
		} catch (error) {
			this.#listed.delete(name);
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
			return new Error(`journal entry ${file} cannot be read: ${(error as Error).message}`);
		}
	}
}

/** How many journal entries are looked at concurrently (file descriptors stay few). */
const LIST_BATCH = 64;

async function mapInBatches<T, R>(items: T[], size: number, map: (item: T) => Promise<R>): Promise<R[]> {
	const results: R[] = [];
	for (let start = 0; start < items.length; start += size) results.push(...(await Promise.all(items.slice(start, start + size).map(map))));
	return results;
}
