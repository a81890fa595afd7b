// The PowerShell scripts the Hyper-V host runs. Each is constant text read from scripts/*.ps1
// and composed once: prelude (param, preferences, helpers) + the body as a function + epilogue
// (decode the parameters, run the body, print one envelope). Values never enter this text: they
// travel as base64 JSON in $RdParams (see encoding.ts).
import fs from 'node:fs';

export interface PsScript {
	/** File stem under scripts/, e.g. "start-vm". */
	readonly name: string;
	/** What it does, for the runbook. */
	readonly summary: string;
	/** The complete script, as sent. */
	readonly text: string;
	/** How long one call may take before the PowerShell process is replaced. */
	readonly timeoutMs: number;
}

/**
 * The scripts folder: beside this module when run from source, or found from the package root
 * when this module is part of the launcher's bundle (dist/cli.js).
 */
function scriptsDir(): URL {
	const candidates = [new URL('./scripts/', import.meta.url), new URL('../source/hosts/hyperv/scripts/', import.meta.url)];
	return candidates.find((candidate) => fs.existsSync(new URL('prelude.ps1', candidate))) ?? (candidates[0] as URL);
}

function read(file: string): string {
	return fs.readFileSync(new URL(file, scriptsDir()), 'utf8').replace(/\r\n/g, '\n');
}

function indent(text: string): string {
	return text
		.trimEnd()
		.split('\n')
		.map((line) => (line ? `\t${line}` : line))
		.join('\n');
}

/** A single-quoted here-string holding `text`; refuses text that would end it early. */
export function hereString(variable: string, text: string): string {
	if (/^\s*['\u2018\u2019\u201a\u201b]@/m.test(text)) throw new Error(`${variable}: text contains a here-string terminator`);
	return `$${variable} = @'\n${text.trimEnd()}\n'@\n`;
}

const MINUTE = 60_000;
const PRELUDE = read('prelude.ps1');
const EPILOGUE = read('epilogue.ps1');

/** The detached copy worker (a standalone script, run by copy.ps1 through Win32_Process.Create). */
export const COPY_WORKER = read('copy-worker.ps1');
/** Runs one script in the long-lived local PowerShell: `& launcher <scriptB64> <paramsB64>`. */
export const LOCAL_LAUNCHER = read('local.ps1');
/** Runs one script on another host through remoting: `& launcher <scriptB64> <paramsB64> <targetB64>`. */
export const REMOTE_LAUNCHER = read('remote.ps1');

/** A script from a body as every script is made (tests: envelope round trips through a real PowerShell). */
export function composeScript(name: string, summary: string, timeoutMs: number, body: string, extra = ''): PsScript {
	const text = `${PRELUDE.trimEnd()}\n\n${extra}function Invoke-RdBody {\n\tparam($P)\n${indent(body)}\n}\n\n${EPILOGUE.trimEnd()}\n`;
	return { name, summary, text, timeoutMs };
}

function compose(name: string, summary: string, timeoutMs: number, extra = ''): PsScript {
	return composeScript(name, summary, timeoutMs, read(`${name}.ps1`), extra);
}

export const SCRIPTS = {
	hostInfo: compose('host-info', 'Describe the Hyper-V host: default storage, free space, switches', 2 * MINUTE),
	inventory: compose('inventory', 'List the VMs and the tags rundirect left on them', 2 * MINUTE),
	planProbe: compose('plan-probe', 'Read what the plan depends on: default storage, the VM being replaced, MACs in use', 2 * MINUTE),
	preflight: compose('preflight', 'Check everything that forbids starting, changing nothing', 5 * MINUTE),
	setAside: compose('set-aside', 'Step 1: tag, turn off and rename the VM being replaced', 10 * MINUTE),
	removeVm: compose('remove-vm', 'Delete a replaced VM and its disks (never a backup file, never another VM\'s file)', 30 * MINUTE),
	restoreSetAside: compose('restore-set-aside', 'Bring the set-aside VM back under its name', 10 * MINUTE),
	createDisks: compose('create-disks', 'Step 2: production folder and placeholder VHDX files', 10 * MINUTE),
	snapshotLayer: compose('snapshot-layer', 'Step 3: mark the backup read-only, create the differencing VHDX on it', 10 * MINUTE),
	startVm: compose('start-vm', 'Step 4: create the VM from the restore point\'s settings on the differencing disks and start it', 15 * MINUTE),
	vmStatus: compose('vm-status', 'Status: power state, heartbeat, changed bytes, storage each disk runs on', 2 * MINUTE),
	copy: compose('copy', 'Step 5: start the detached copies of the backup VHDX files and report their progress', 5 * MINUTE, hereString('RdWorker', COPY_WORKER)),
	applyChanges: compose('apply-changes', 'Step 6: re-parent the differencing disks onto the copies, then merge them in one measured offline window', 6 * 60 * MINUTE),
	deleteLayer: compose('delete-layer', 'Step 7: remove the differencing disks, restore ordinary VM settings, clear the backup\'s read-only mark', 10 * MINUTE),
	thumbnail: compose('thumbnail', 'Drill evidence: the VM\'s screen thumbnail (GetVirtualSystemThumbnailImage, raw RGB 565)', 2 * MINUTE),
	guestExec: compose('guest-exec', 'Drill check: run a command inside the guest through PowerShell Direct (Invoke-Command -VMId -Credential)', 2 * MINUTE),
	discard: compose('discard', 'Stop: turn off and remove the VM, delete every file of the session', 30 * MINUTE),
	backupBegin: compose('backup-begin', 'Backup: checkpoint the VM, report the frozen disks and the settings', 30 * MINUTE),
	backupEnd: compose('backup-end', 'Backup: remove the checkpoint (Hyper-V merges it back)', 30 * MINUTE),
} as const satisfies Record<string, PsScript>;

export type ScriptKey = keyof typeof SCRIPTS;

/** Every standalone PowerShell text this host can send, for the parse and cmdlet checks. */
export function allScriptTexts(): Array<{ name: string; text: string }> {
	return [
		...Object.values(SCRIPTS).map((script) => ({ name: script.name, text: script.text })),
		{ name: 'copy-worker', text: COPY_WORKER },
		{ name: 'local-launcher', text: LOCAL_LAUNCHER },
		{ name: 'remote-launcher', text: REMOTE_LAUNCHER },
	];
}
