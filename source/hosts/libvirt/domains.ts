// Questions about libvirt domains, asked through virsh: does it exist, its state, its disks
// (live and persistent), our metadata on it.
import { HostError } from '../../core/errors.ts';
import { type DomainDisk, METADATA_NS, parseDisks, restoreSessionOf } from './domain-xml.ts';
import { isNoDomain, type Virsh } from './virsh.ts';

export type DomainState = 'running' | 'paused' | 'off' | 'error';

export interface DomainFacts {
	name: string;
	state: DomainState;
	/** virsh's words, e.g. "paused (crashed)". */
	stateText: string;
	persistent: boolean;
	/** The session whose restore this domain is (our <restore> metadata), or null. */
	restoreSession: string | null;
	/** The disks of the running domain (or of its definition when it is off). */
	disks: DomainDisk[];
}

function stateOf(text: string): DomainState {
	if (/^running|^in shutdown/.test(text)) return 'running';
	if (/^paused|^pmsuspended|^idle|^blocked/.test(text)) return 'paused';
	if (/^shut off/.test(text)) return 'off';
	return 'error';
}

export class Domains {
	constructor(readonly virsh: Virsh) {}

	async names(): Promise<string[]> {
		const out = await this.virsh.run(['list', '--all', '--name']);
		return out
			.split('\n')
			.map((line) => line.trim())
			.filter((line) => line !== '');
	}

	/** Everything the steps decide on, or null when there is no such domain. */
	async facts(name: string): Promise<DomainFacts | null> {
		const state = await this.virsh.tryRun(['domstate', name, '--reason']);
		if (!state.ok) {
			if (isNoDomain(state.stderr)) return null;
			throw new HostError('VIRSH_FAILED', `virsh domstate ${name} on ${this.virsh.uri}: ${state.stderr.replace(/^error:\s*/gm, '')}`);
		}
		const stateText = state.stdout.trim();
		const info = await this.virsh.tryRun(['dominfo', name]);
		if (!info.ok && isNoDomain(info.stderr)) return null;
		const persistent = /Persistent:\s+yes/.test(info.stdout);
		const metadata = await this.metadata(name);
		const xml = await this.virsh.tryRun(['dumpxml', name]);
		if (!xml.ok && isNoDomain(xml.stderr)) return null;
		return {
			name,
			state: stateOf(stateText),
			stateText,
			persistent,
			restoreSession: metadata === null ? null : restoreSessionOf(metadata),
			disks: parseDisks(xml.stdout),
		};
	}

	/** The persistent definition's disks (what the domain boots on next time). */
	async persistentDisks(name: string): Promise<DomainDisk[]> {
		return parseDisks(await this.virsh.run(['dumpxml', name, '--inactive']));
	}

	/** Our metadata element (persistent definition first), or null. */
	async metadata(name: string): Promise<string | null> {
		for (const scope of ['--config', '--live']) {
			const result = await this.virsh.tryRun(['metadata', name, METADATA_NS, scope]);
			if (result.ok && result.stdout.trim() !== '') return result.stdout;
		}
		return null;
	}

	/** Removes our metadata from the persistent definition (and the live one, when running). */
	async removeMark(name: string, running: boolean): Promise<void> {
		await this.virsh.run(['metadata', name, METADATA_NS, '--remove', '--config']);
		if (running) await this.virsh.tryRun(['metadata', name, METADATA_NS, '--remove', '--live']);
	}

	/** Powers a domain off: a graceful QEMU exit first (it flushes), hard if that fails. */
	async destroy(name: string): Promise<void> {
		const graceful = await this.virsh.tryRun(['destroy', name, '--graceful'], { timeoutMs: 60_000 });
		if (graceful.ok || /not running|domain is not running/i.test(graceful.stderr) || isNoDomain(graceful.stderr)) return;
		const hard = await this.virsh.tryRun(['destroy', name]);
		if (!hard.ok && !/not running/i.test(hard.stderr) && !isNoDomain(hard.stderr)) throw new HostError('VIRSH_FAILED', `virsh destroy ${name}: ${hard.stderr}`);
	}

	async undefine(name: string): Promise<void> {
		const result = await this.virsh.tryRun(['undefine', name, '--nvram', '--managed-save', '--snapshots-metadata', '--checkpoints-metadata']);
		if (!result.ok && !isNoDomain(result.stderr)) throw new HostError('VIRSH_FAILED', `virsh undefine ${name}: ${result.stderr}`);
	}
}
