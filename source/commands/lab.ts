// `rundirect lab init`: builds the lab guest, the sample backup destination and the lab
// host's existing VMs, with progress — through the host's provisioning, whatever builds it.
import { canProvision, hasPower, type HasPower } from '../hosts/capabilities.ts';
import type { Host } from '../hosts/host.ts';
import { openHost } from '../hosts/registry.ts';
import type { Paths } from '../core/paths.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import type { CommandContext } from './context.ts';
import { formatDuration } from '../core/format.ts';

export interface LabInitOutput {
	json: boolean;
	emit(record: Record<string, unknown>): void;
	say(text: string): void;
}

/** `lab init` builds the lab whatever --host says: the lab is the host that provisions itself. */
export async function labInitCommand(paths: Paths, output: LabInitOutput, options: { force?: boolean; withDebian?: boolean }): Promise<number> {
	const host = await openHost('lab', paths);
	try {
		if (!canProvision(host)) throw new RundirectError(`host ${host.id} cannot build a sample lab`, EXIT.usage);
		const began = performance.now();
		let lastLine = '';
		const summary = await host.provision({
			...(options.force !== undefined ? { force: options.force } : {}),
			...(options.withDebian ? { withDebian: true } : {}),
			onProgress: (message, fraction) => {
				output.emit({ type: 'progress', step: 'lab-init', message, fraction: fraction ?? null });
				const line = `${fraction === undefined ? '' : `[${String(Math.round(fraction * 100)).padStart(3)}%] `}${message}`;
				if (line !== lastLine) output.say(line);
				lastLine = line;
			},
		});
		for (const note of summary.notes) output.say(note);
		const { destination, vms, restorePoints, warnings, details } = summary;
		output.emit({ type: 'result', ok: true, destination, vms, restorePoints, warnings, ...details });
		output.say(`Lab ready in ${formatDuration((performance.now() - began) / 1000)}: ${summary.vms.length} VMs, ${summary.restorePoints} restore points in ${summary.destination}.`);
		for (const warning of summary.warnings) output.say(`warning: ${warning}`);
		return 0;
	} finally {
		await host.close();
	}
}

/** The lab's own VM controls, which Hyper-V has in its manager and the lab has here. */
export async function labVmsCommand(context: CommandContext): Promise<number> {
	const vms = await context.engine.host.inventory();
	context.emit({ type: 'vms', host: context.engine.host.id, vms });
	if (vms.length === 0) context.say('No VMs on the lab host (run "rundirect lab init").');
	for (const vm of vms) {
		const notes = [vm.runningFromBackup ? `running from backup (session ${vm.runningFromBackup})` : null, vm.setAside ? 'set aside' : null].filter(Boolean);
		context.say(`${vm.name.padEnd(28)} ${vm.state.padEnd(8)} ${notes.join(', ')}`.trimEnd());
	}
	return 0;
}

/** The host's own VM power controls (the lab's; Hyper-V has them in its manager). */
function poweredHost(context: CommandContext): Host & HasPower {
	const host = context.engine.host;
	if (!hasPower(host)) throw new RundirectError(`host ${host.id} has no VM power controls of its own`, EXIT.usage, 'add --host lab');
	return host;
}

export async function labPowerCommand(context: CommandContext, vm: string, power: 'on' | 'off'): Promise<number> {
	const host = poweredHost(context);
	const known = await host.inventory();
	if (!known.some((candidate) => candidate.name === vm)) {
		throw new RundirectError(`there is no lab VM named ${vm}`, EXIT.notFound, `the lab's VMs: ${known.map((candidate) => candidate.name).join(', ') || 'none (run "rundirect lab init")'}`);
	}
	let changed: boolean;
	try {
		changed = power === 'on' ? await host.powerOn(vm) : await host.powerOff(vm);
	} catch (error) {
		throw new RundirectError((error as Error).message, EXIT.refused);
	}
	context.emit({ type: 'result', ok: true, vm, power, changed });
	context.say(changed ? `${vm} is ${power === 'on' ? 'running' : 'off'}.` : `${vm} was already ${power === 'on' ? 'running' : 'off'}.`);
	return 0;
}
