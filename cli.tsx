#!/usr/bin/env node
// Entry point: parse argv, pick the host, then run one command headless (listr2's own
// renderer, its simple renderer on a pipe, or NDJSON with --json), or show the overview.
import { Command, CommanderError, Option } from 'commander';
import { openContext, globalPaths, type CommandContext, type GlobalOptions } from './source/commands/context.ts';
import { backupsCommand, backupsText, liveStatuses, sessionsCommand, sessionsText, type SessionsOptions } from './source/commands/listings.ts';
import { finalizeCommand, resumeCommand, startCommand, stopCommand, unlockCommand, type FinalizeOptions, type StartOptions } from './source/commands/lifecycle.ts';
import { labInitCommand, labPowerCommand, labVmsCommand } from './source/commands/lab.ts';
import { EXIT, RundirectError } from './source/core/errors.ts';
import { onInterrupt } from './source/core/interrupts.ts';
import { reportError } from './source/core/report.ts';
import { backupCommand } from './source/commands/backup.ts';
import { planCommand } from './source/commands/plan.ts';
import { siteFinalizeCommand, siteStartCommand } from './source/commands/site.ts';
import { startMode, type StartWords } from './source/commands/start-words.ts';
import { drillCommand, type DrillCommandOptions } from './source/commands/drill.ts';

const abort = new AbortController();
// The host-side work (QEMU, block jobs) goes on: we only stop waiting for it.
onInterrupt(() => abort.abort());

async function withContext(options: GlobalOptions, run: (context: CommandContext) => Promise<number>, { console = false } = {}): Promise<void> {
	const context = await openContext(options);
	try {
		// The console says it in its notices (a line on stderr would tear its frame).
		if (!console) await context.engine.keepPrivate();
		process.exitCode = await run(context);
	} finally {
		await context.engine.close();
	}
}

const program = new Command('rundirect')
	.description('Restore VMs instantly by running them straight from their backup files, then finalize or stop the restore.')
	.addOption(new Option('--host <host>', 'lab (QEMU/KVM), hyperv, hyperv://<server>, libvirt or libvirt:<uri>').env('RUNDIRECT_HOST'))
	.option('--destination <path>', 'backup destination folder (default: the lab\'s sample destination)')
	.option('--state-dir <path>', 'journal and locks (default: $XDG_STATE_HOME/rundirect)')
	.option('--data-dir <path>', 'lab host data (default: $XDG_DATA_HOME/rundirect)')
	.option('--cache-dir <path>', 'downloads and built images (default: $XDG_CACHE_HOME/rundirect)')
	.option('--json', 'one JSON object per line on stdout, for scripts')
	.argument('[command]', 'a command below; none opens the console (on a terminal) or prints an overview')
	// Every command's --help lists the global options too; a usage error names the fix, not the whole help.
	.configureHelp({ showGlobalOptions: true })
	.showHelpAfterError('(add --help for the commands and options)')
	.configureOutput({ writeErr: (text) => (wantsJson() ? undefined : process.stderr.write(text)), outputError: (text, write) => write(text) })
	.exitOverride();

/** --json anywhere on the line: even a usage error, found before the options are parsed, is then JSON. */
function wantsJson(): boolean {
	return process.argv.slice(2).includes('--json');
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
	const row = Array.from({ length: b.length + 1 }, (_, index) => index);
	for (let i = 1; i <= a.length; i++) {
		let previous = row[0] ?? 0;
		row[0] = i;
		for (let j = 1; j <= b.length; j++) {
			const kept = row[j] ?? 0;
			row[j] = Math.min(kept + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
			previous = kept;
		}
	}
	return row[b.length] ?? 0;
}

function unknownCommand(name: string): RundirectError {
	const names = program.commands.map((command) => command.name());
	const best = names.map((candidate) => ({ candidate, cost: distance(name, candidate) })).sort((a, b) => a.cost - b.cost)[0];
	const suggestion = best && best.cost <= Math.max(2, Math.floor(name.length / 2)) ? `did you mean "rundirect ${best.candidate}"? ` : '';
	return new RundirectError(`unknown command "${name}"`, EXIT.usage, `${suggestion}the commands are: ${names.join(', ')} (rundirect --help says what each does)`);
}

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

program
	.command('backups')
	.description('list the restore points in the backup destination')
	.action(() => withContext(globals(), backupsCommand));

program
	.command('sessions')
	.description('list Run Direct sessions with their state and live host status')
	.option('--active', 'only the sessions not finished (finalized or stopped)')
	.option('--prune', 'move the journals of sessions finished long ago to <state-dir>/archive/sessions/ (kept as an audit record)')
	.option('--older-than <days>', 'with --prune: finished more than this many days ago (default 7)')
	.action((options: SessionsOptions) => withContext(globals(), (context) => sessionsCommand(context, options)));

program
	.command('start [vm]')
	.description('steps 1–4: replace the VM and start it running directly from its backup; with --plan <file>, every VM of a plan file (a site recovery)')
	.option('--point <id>', 'restore point: latest or an id', 'latest')
	.option('--name <new-name>', 'restore as a new VM of this name instead of replacing the original')
	.option('--location <where>', 'original (the host\'s production storage) or an absolute folder', 'original')
	.option('--delete-replaced', 'delete the VM being replaced now, instead of setting it aside until finalize')
	.option('--yes', 'confirm turning off (and with --delete-replaced, deleting) the VM being replaced')
	.option('--plan [file.json]', 'a plan file (the drill plan\'s format): start every VM of it under its own name, in order, at most --concurrency at once, application checks as gates; run again to continue')
	.option('--concurrency <n>', 'with --plan: how many VMs start at once (default: the plan\'s, else 2)')
	.option('--timeout <seconds>', 'with --plan: how long each VM may take from its start to proof of life (default: the plan\'s, else 300)')
	.option('--runbook', 'change nothing: show every command each step will run, with its parameters (Hyper-V, libvirt)')
	.option('--runbook-out <file>', 'with --runbook: also write them as a runbook script an administrator can read or run')
	.option('--plan-out <file>', 'old spelling of --runbook-out')
	.action((vm: string | undefined, options: StartOptions & StartWords & { concurrency?: string; timeout?: string }) =>
		withContext(globals(), async (context) => {
			const mode = startMode(vm, options);
			if (mode.kind === 'site') return siteStartCommand(context, mode.file, options, abort.signal);
			if (mode.kind === 'start') return startCommand(context, mode.vm, options, abort.signal);
			for (const notice of mode.notices) context.warn(`notice: ${notice}`);
			return planCommand(context, { vm: mode.vm, point: options.point, name: options.name, location: options.location, replaceMode: options.deleteReplaced ? 'delete' : 'set-aside' }, mode.out);
		}),
	);

program
	.command('finalize [session-or-vm]')
	.description('steps 5–7: copy the backup to production storage, apply the changes, drop the snapshot layer; with --plan <file>, every VM of a plan file')
	.option('--rate-limit <MiB/s>', 'cap the copy\'s data rate to spare production storage (default: as fast as it goes); on a finalize another process is running, changes its cap (0: none)')
	.option('--yes', 'confirm purging the replaced VM that step 1 set aside (deleted for good at the end)')
	.option('--pause', 'pause the copy of a finalize another process is running')
	.option('--resume', 'resume that copy')
	.option('--cancel', 'give up a finalize before step 6 (lab, libvirt): its copy stops, the VM runs on from its backup')
	.option('--plan <file.json>', 'finalize every VM a plan file started (start --plan), at most --concurrency at once, --rate-limit shared by all their copies; run again to continue')
	.option('--concurrency <n>', 'with --plan: how many finalizes run at once (default: the plan\'s, else 2)')
	.action((ref: string | undefined, options: FinalizeOptions & { plan?: string; concurrency?: string }) =>
		withContext(globals(), (context) => {
			if (options.plan !== undefined) {
				if (ref !== undefined) throw new RundirectError('finalize takes a session (or VM) or --plan <file>, not both', EXIT.usage);
				if (options.pause || options.resume || options.cancel) throw new RundirectError('--pause, --resume and --cancel act on one finalize: name its session', EXIT.usage);
				return siteFinalizeCommand(context, options.plan, options, abort.signal);
			}
			if (ref === undefined) throw new RundirectError('name the session (or VM) to finalize, or a plan file with --plan <file>', EXIT.usage);
			return finalizeCommand(context, ref, options, abort.signal);
		}),
	);

program
	.command('stop <session-or-vm>')
	.description('turn off and remove the restored VM, discard every change, bring the replaced VM back')
	.option('--yes', 'confirm discarding the changes')
	.action((ref: string, options: { yes?: boolean }) => withContext(globals(), (context) => stopCommand(context, ref, options, abort.signal)));

program
	.command('resume')
	.description('after a crash, reboot or SSH disconnect: reconcile unfinished sessions with the host and continue them')
	.option('--rollback', 'take the safe way back (stop) instead of continuing, where there is one')
	.option('--dry-run', 'only say what would be done')
	.option('--yes', 'confirm discarding the changes of the sessions rolled back')
	.action((options: { rollback?: boolean; dryRun?: boolean; yes?: boolean }) => withContext(globals(), (context) => resumeCommand(context, options, abort.signal)));

program
	.command('unlock <vm>')
	.description('clear a stale lock left by a start that died before its first step')
	.action((vm: string) => withContext(globals(), (context) => unlockCommand(context, vm)));

program
	.command('backup <vm>')
	.description('Hyper-V: write a restore point of a VM into the backup destination (checkpoint, copy each VHDX, remove the checkpoint)')
	.action((vm: string) => withContext(globals(), (context) => backupCommand(context, vm, abort.signal)));

program
	.command('drill [vm...]')
	.description('recovery drill: Run Direct each VM under a new name with its network isolated, wait for proof of life, keep the evidence, stop it; writes a report')
	.option('--point <id>', 'restore point of every VM: latest (default) or an id')
	.option('--concurrency <n>', 'how many VMs boot at once (default 2)')
	.option('--timeout <seconds>', 'how long each VM may take from its start to proof of life (default 300)')
	.option('--keep', 'leave the drill VMs running (stop them later with "rundirect stop")')
	.option('--plan <file.json>', 'a drill plan: VMs in boot order with dependencies, concurrency, timeout')
	.option('--isolated-switch <name>', 'Hyper-V: connect the NICs to this Private/Internal switch instead of leaving them disconnected')
	.option('--check <command>', 'an application check: a command run inside each guest once it shows proof of life (no network needed), retried until it exits 0 — e.g. --check "pg_isready -q"; repeatable', (value: string, previous: string[] = []) => [...previous, value])
	.option('--check-tcp <port>', 'an application check: a TCP port of each guest that must accept a connection on the drill\'s isolated network (after the --check commands); repeatable', (value: string, previous: string[] = []) => [...previous, value])
	.option('--history', 'list past drills with their outcome and times')
	.action((vms: string[], options: DrillCommandOptions) => withContext(globals(), (context) => drillCommand(context, vms, options, abort.signal)));

const lab = program.command('lab').description('the built-in QEMU/KVM lab host');
lab
	.command('init')
	.description('build the lab guest, a sample backup destination and the lab\'s existing VMs (idempotent)')
	.option('--force', 'rebuild the sample destination and lab VMs')
	.option('--with-debian', 'also build a real guest (Debian: systemd, PostgreSQL, qemu-guest-agent; needs root, a few minutes once) and its restore points pg01 (generation 1, BIOS, qcow2) and pg02 (generation 2, UEFI, VHDX)')
	.action(async (options: { force?: boolean; withDebian?: boolean }) => {
		const json = globals().json === true;
		process.exitCode = await labInitCommand(globalPaths(globals()), {
			json,
			emit: (record) => {
				if (json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
			},
			say: (text) => {
				if (!json) process.stdout.write(`${text}\n`);
			},
		}, options);
	});

lab
	.command('vms')
	.description('list the lab host\'s VMs and whether they run')
	.action(() => withContext(globals(), labVmsCommand));

lab
	.command('poweroff <vm>')
	.description('turn a lab VM off (QMP quit, then kill as a last resort)')
	.action((vm: string) => withContext(globals(), (context) => labPowerCommand(context, vm, 'off')));

lab
	.command('poweron <vm>')
	.description('start a lab VM on its production disks')
	.action((vm: string) => withContext(globals(), (context) => labPowerCommand(context, vm, 'on')));

program.action(async (command: string | undefined) => {
	if (command !== undefined) throw unknownCommand(command);
	// On a terminal: the console. Piped, or with --json: the overview below, as text or NDJSON.
	if (process.stdin.isTTY && process.stdout.isTTY && globals().json !== true) {
		const { runConsole } = await import('./source/ui/launch.tsx');
		await withContext(globals(), runConsole, { console: true });
		return;
	}
	await withContext(globals(), async (context) => {
		const catalog = await context.engine.catalog();
		const { sessions } = await context.engine.sessions();
		const statuses = await liveStatuses(context, sessions);
		context.emit({ type: 'overview', host: context.engine.host.id, destination: catalog.destination, restorePoints: catalog.points.length, sessions: sessions.length });
		const description = await context.engine.host.describe();
		context.say(`rundirect — host ${description.id}: ${description.summary}`);
		for (const warning of description.warnings) context.say(`warning: ${warning}`);
		context.say('');
		context.say(backupsText(catalog));
		context.say('');
		context.say(sessionsText(sessions, statuses));
		context.say('');
		context.say('Commands: rundirect start <vm> | finalize <session> | stop <session> | backups | sessions | lab init   (--help for all, --json for scripts)');
		return EXIT.ok;
	});
});

try {
	await program.parseAsync(process.argv);
} catch (error) {
	if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0)) {
		process.exitCode = 0;
	} else if (error instanceof CommanderError) {
		// Commander has said it on stderr, except under --json: there the one report says it (NDJSON on stdout, text on stderr).
		if (wantsJson()) reportError(new RundirectError(error.message.replace(/^error: /, ''), EXIT.usage, 'add --help for the commands and options'), { json: true });
		process.exitCode = EXIT.usage;
	} else {
		process.exitCode = reportError(error, { json: program.opts<GlobalOptions>().json === true });
	}
}
