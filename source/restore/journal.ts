// The journal: one JSON file per session under <state>/sessions, replaced atomically
// (write to a temporary file, fsync, rename) so a crash leaves either the old or the new
// record, never a torn one.
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
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
		await fs.mkdir(this.dir, { recursive: true });
		await writeFileAtomic(this.file(session.id), `${JSON.stringify(session, null, 2)}\n`, { fsync: true });
	}

	async read(id: string): Promise<SessionRecord | null> {
		try {
			return JSON.parse(await fs.readFile(this.file(id), 'utf8')) as SessionRecord;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
			throw new Error(`journal entry ${this.file(id)} cannot be read: ${(error as Error).message}`);
		}
	}

	/** Every session, newest first. Unreadable entries are reported, not hidden. */
	async list(): Promise<{ sessions: SessionRecord[]; problems: string[] }> {
		let names: string[];
		try {
			names = await fs.readdir(this.dir);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { sessions: [], problems: [] };
			throw error;
		}
		const sessions: SessionRecord[] = [];
		const problems: string[] = [];
		for (const name of names) {
			if (!name.endsWith('.json')) continue;
			try {
				const session = await this.read(name.slice(0, -'.json'.length));
				if (session) sessions.push(session);
			} catch (error) {
				problems.push((error as Error).message);
			}
		}
		sessions.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
		return { sessions, problems };
	}
}
