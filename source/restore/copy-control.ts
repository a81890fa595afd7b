// The operator's wishes for a running copy — its rate limit, paused or not — as one small file
// per session under <state>/control/. The process driving the copy reads it at each poll (the
// host's monitor is that process's, so nobody else can tell QEMU directly); a console or a
// second `rundirect finalize --rate-limit|--pause|--resume|--cancel` writes it.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { mkdirPrivate, privateAtomic } from '../core/private-files.ts';
import type { CopyControl } from '../hosts/host.ts';

export interface CopyWishes {
	/** Bytes per second; null = as fast as possible. */
	rateLimit: number | null;
	paused: boolean;
	/** The finalize is to be given up before step 6: the VM goes on from its backup. */
	cancel: boolean;
}

export class CopyControls {
	readonly dir: string;

	constructor(stateDir: string) {
		this.dir = path.join(stateDir, 'control');
	}

	file(sessionId: string): string {
		return path.join(this.dir, `${sessionId}.json`);
	}

	/** The wishes for a session's copy, or null when none were written. */
	read(sessionId: string): CopyWishes | null {
		try {
			const parsed = JSON.parse(readFileSync(this.file(sessionId), 'utf8')) as Partial<CopyWishes>;
			return { rateLimit: typeof parsed.rateLimit === 'number' && parsed.rateLimit > 0 ? parsed.rateLimit : null, paused: parsed.paused === true, cancel: parsed.cancel === true };
		} catch {
			return null;
		}
	}

	async write(sessionId: string, wishes: Partial<CopyWishes>): Promise<CopyWishes> {
		const next = { ...(this.read(sessionId) ?? { rateLimit: null, paused: false, cancel: false }), ...wishes };
		await mkdirPrivate(this.dir);
		await writeFileAtomic(this.file(sessionId), `${JSON.stringify(next)}\n`, privateAtomic());
		return next;
	}

	async clear(sessionId: string): Promise<void> {
		await fs.rm(this.file(sessionId), { force: true });
	}

	/** What the host asks while copying: the file's wishes, else the rate the phase began with. */
	controlOf(sessionId: string, initial: number | undefined): CopyControl {
		return {
			rateLimit: () => {
				const wishes = this.read(sessionId);
				return wishes ? (wishes.rateLimit ?? undefined) : initial;
			},
			paused: () => this.read(sessionId)?.paused === true,
		};
	}
}
