// The PowerShell channel: one long-lived Windows PowerShell 5.1 process (node-powershell 5),
// `-NoProfile -NonInteractive`, fed one ASCII line per call (see encoding.ts), with a timeout per
// call after which the process is killed and replaced on the next call. node-powershell's `$`
// template is never used: it splices values into code.
import { PowerShell } from 'node-powershell';
import { localInvocation, remoteInvocation } from './encoding.ts';
import { EnvelopeMissingError, parseEnvelope } from './envelope.ts';
import { explain, HypervError } from './errors.ts';
import type { PsScript } from './scripts.ts';

export interface RunOptions {
	/** Overrides the script's own timeout. */
	timeoutMs?: number;
}

/** Runs one constant script with its parameters and returns the envelope's data (or throws HypervError). */
export interface PowerShellRunner {
	run(script: PsScript, params: unknown, options?: RunOptions): Promise<unknown>;
	dispose(): Promise<void>;
}

/** The raw text channel, separated so the runner's parsing can be tested without PowerShell. */
export interface PowerShellChannel {
	invoke(line: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }>;
	dispose(): Promise<void>;
}

class TimeoutError extends Error {}

export interface NodePowerShellOptions {
	/** The PowerShell to run; default powershell.exe (5.1) on Windows, pwsh elsewhere (NODE_POWERSHELL overrides both). */
	executable?: string;
	/** One line run first in every new process (tests: import the Hyper-V model). */
	prelude?: string;
}

/** node-powershell behind PowerShellChannel: a fresh process after a timeout or a crash. */
export class NodePowerShellChannel implements PowerShellChannel {
	#shell: PowerShell | null = null;
	#fresh = false;
	readonly #options: NodePowerShellOptions;

	constructor(options: NodePowerShellOptions = {}) {
		this.#options = options;
	}

	#open(): PowerShell {
		if (!this.#shell) {
			this.#shell = new PowerShell({
				// powershell.exe (5.1) on Windows; NODE_POWERSHELL overrides (node-powershell honours it).
				...(this.#options.executable ? { executable: this.#options.executable } : {}),
				executableOptions: { '-NoProfile': true, '-NonInteractive': true, '-ExecutionPolicy': 'Bypass' },
				throwOnInvocationError: false,
			});
			this.#fresh = true;
			// child-shell rejects a promise it keeps privately when the process dies (or never starts);
			// the next invoke() reports that failure, so the private copy must not crash Node as unhandled.
			(this.#shell as unknown as { exitPromise?: Promise<void> }).exitPromise?.catch(() => undefined);
		}
		return this.#shell;
	}

	async invoke(line: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
		const shell = this.#open();
		let timer: NodeJS.Timeout | undefined;
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new TimeoutError(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
		});
		try {
			if (this.#fresh && this.#options.prelude) await Promise.race([shell.invoke(this.#options.prelude), timeout]);
			this.#fresh = false;
			// UTF-8 out, set on every call (cheap) so a replaced process is configured too; the line itself is ASCII.
			const result = await Promise.race([shell.invoke(`[Console]::OutputEncoding = [Text.Encoding]::UTF8; ${line}`), timeout]);
			return { stdout: result.stdout?.toString('utf8') ?? result.raw ?? '', stderr: result.stderr?.toString('utf8') ?? '' };
		} catch (error) {
			// A hung or dead process is replaced: the next call starts a new one.
			await this.#replace();
			throw error;
		} finally {
			clearTimeout(timer);
		}
	}

	async #replace(): Promise<void> {
		const shell = this.#shell;
		this.#shell = null;
		await shell?.dispose('SIGKILL').catch(() => undefined);
	}

	async dispose(): Promise<void> {
		const shell = this.#shell;
		this.#shell = null;
		await shell?.dispose().catch(() => undefined);
	}
}

export interface ChannelRunnerOptions {
	/** Null for the local host, else the server reached through PowerShell remoting. */
	computer: string | null;
	/** The host id, for messages. */
	hostId: string;
	channel?: PowerShellChannel;
}

/** Runs scripts over a channel: builds the line, parses the envelope, turns failures into HypervError. */
export class ChannelRunner implements PowerShellRunner {
	readonly #options: ChannelRunnerOptions;
	readonly #channel: PowerShellChannel;

	constructor(options: ChannelRunnerOptions) {
		this.#options = options;
		this.#channel = options.channel ?? new NodePowerShellChannel();
	}

	line(script: PsScript, params: unknown): string {
		return this.#options.computer === null ? localInvocation(script.text, params) : remoteInvocation(script.text, params, this.#options.computer);
	}

	async run(script: PsScript, params: unknown, options: RunOptions = {}): Promise<unknown> {
		const host = this.#options.computer ?? 'this computer';
		let output: { stdout: string; stderr: string };
		try {
			output = await this.#channel.invoke(this.line(script, params), options.timeoutMs ?? script.timeoutMs);
		} catch (error) {
			if (error instanceof TimeoutError) throw new HypervError('TIMEOUT', `${script.name}: ${explain('TIMEOUT', script.name, host, error.message)}`);
			const code = (error as NodeJS.ErrnoException).code ?? (error as { originalError?: NodeJS.ErrnoException }).originalError?.code;
			if (code === 'ENOENT') throw new HypervError('POWERSHELL_MISSING', explain('POWERSHELL_MISSING', '', host, (error as Error).message));
			throw error;
		}
		let envelope;
		try {
			envelope = parseEnvelope(output.stdout, output.stderr);
		} catch (error) {
			if (error instanceof EnvelopeMissingError) throw new HypervError('ERROR', `${script.name} on ${host}: ${error.message}`);
			throw error;
		}
		if (!envelope.ok) throw HypervError.fromEnvelope(envelope.error, host, script.name);
		return envelope.data;
	}

	dispose(): Promise<void> {
		return this.#channel.dispose();
	}
}
