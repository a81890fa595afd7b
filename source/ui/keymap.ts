// The console's one key map: every command key, the action it runs, what it does, and the
// panes and dialogs (contexts) where it applies — with the footer hint it shows there. Key
// dispatch (source/ui/keys.tsx), the footer and the help overlay are all built from this
// table, so a key cannot do one thing and be documented as another. What a text field
// reads (the filter, a name typed to confirm) stays the field's own: such rows are marked
// `field` and are listed here for the hints only.
import type { Key } from 'ink';

/** The panes, by what the focused one shows (the detail pane shows a task tree, the drill history, one drill's report or the host's VMs). */
export const PANE_CONTEXTS = ['backups', 'sessions', 'detail', 'history', 'report', 'host'] as const;
export type PaneContext = (typeof PANE_CONTEXTS)[number];

export const DIALOG_CONTEXTS = ['filter', 'help', 'warnings', 'lab', 'resume', 'start', 'drill', 'drill-check', 'drill-refused', 'confirm', 'confirm-typed', 'finalize', 'quit'] as const;
export type DialogContext = (typeof DIALOG_CONTEXTS)[number];

export type Context = PaneContext | DialogContext;

/** Keys that are not one printable character; `typing` is any printable text, `any` every key at all. */
export const KEY_LABELS = {
	up: '↑',
	down: '↓',
	left: '←',
	right: '→',
	pageUp: 'PgUp',
	pageDown: 'PgDn',
	home: 'Home',
	end: 'End',
	enter: 'Enter',
	escape: 'Esc',
	tab: 'Tab',
	'shift+tab': 'Shift+Tab',
	backspace: 'Backspace',
	space: 'Space',
	'ctrl+c': 'Ctrl+C',
	typing: 'type',
	any: 'any key',
} as const;
export type NamedKey = keyof typeof KEY_LABELS;

export interface Binding {
	action: string;
	/** Named keys (KEY_LABELS) or single characters, case-sensitive. */
	keys: readonly string[];
	/** Where the binding applies, with the footer hint it shows there (null: none; equal hints show once). */
	contexts: Readonly<Partial<Record<Context, string | null>>>;
	description: string;
	/** A row of the help overlay: its keys column, and its text when not the description. */
	help?: { keys: string; text?: string };
	/** Read by a text field, which handles it; never dispatched. */
	field?: true;
}

const PANES_MOVE = { backups: '↑↓ move', sessions: '↑↓/jk select', detail: '↑↓/jk scroll', history: '↑↓/jk scroll', report: '↑↓/jk scroll', host: '↑↓/jk select' } as const;
const ALL_PANES = { backups: null, sessions: null, detail: null, history: null, report: null, host: null } as const;
/** The same hint in every pane. */
function inPanes<T extends string>(hint: T): { readonly [C in PaneContext]: T } {
	return { backups: hint, sessions: hint, detail: hint, history: hint, report: hint, host: hint };
}

// Table order is footer order (and help order): the panes' hints read "move · open · mark · f · s · d · H · Tab · / · r · ? · q".
export const BINDINGS = [
	// ------------------------------------------------------------------ moving in a pane (and the interrupted-sessions list)
	{ action: 'up', keys: ['up', 'k'], contexts: { ...PANES_MOVE, resume: '↑↓', help: '↑↓ PgUp PgDn scroll', warnings: '↑↓ PgUp PgDn scroll' }, description: 'the previous row (or line)', help: { keys: '↑ ↓  j k', text: 'move in the focused pane (PgUp/PgDn, Home/End or g/G jump)' } },
	{ action: 'down', keys: ['down', 'j'], contexts: { ...PANES_MOVE, resume: '↑↓', help: null, warnings: null }, description: 'the next row (or line)' },
	{ action: 'pageUp', keys: ['pageUp'], contexts: { backups: null, sessions: null, detail: null, report: null, help: null, warnings: null }, description: 'a page up' },
	{ action: 'pageDown', keys: ['pageDown'], contexts: { backups: null, sessions: null, detail: null, report: null, help: null, warnings: null }, description: 'a page down' },
	{ action: 'first', keys: ['home', 'g'], contexts: { backups: null, sessions: null, history: null }, description: 'the first row' },
	{ action: 'last', keys: ['end', 'G'], contexts: { backups: null, sessions: null, history: null }, description: 'the last row' },

	// ------------------------------------------------------------------ what Enter, → and ← do where
	{ action: 'expand', keys: ['right'], contexts: { backups: null }, description: 'on a VM: show its restore points (on a VM already open: go to its newest point)', help: { keys: '→ / Enter', text: 'on a VM: show its restore points (← hides them)' } },
	{ action: 'open', keys: ['enter', 'l'], contexts: { backups: 'Enter open/restore' }, description: 'on a restore point: restore it (a short form, then a confirmation)', help: { keys: 'Enter' } },
	{ action: 'collapse', keys: ['left', 'h'], contexts: { backups: null }, description: "hide the restore points of the cursor's VM" },
	{ action: 'showTaskTree', keys: ['enter'], contexts: { sessions: 'Enter task tree' }, description: "show the selected session's task tree (focus the detail pane)" },
	{ action: 'openReport', keys: ['enter', 'right'], contexts: { history: null }, description: "show the drill's report and evidence" },
	{ action: 'backToHistory', keys: ['left', 'backspace', 'escape'], contexts: { report: null }, description: 'back to the drill history' },

	// ------------------------------------------------------------------ commands of every pane
	{ action: 'finalize', keys: ['f'], contexts: { ...inPanes('f finalize'), backups: null }, description: 'finalize the selected session: steps 5–7, the VM keeps running', help: { keys: 'f' } },
	{ action: 'stop', keys: ['s'], contexts: { ...inPanes('s stop'), backups: null }, description: 'stop the selected session: the VM is removed, every change discarded', help: { keys: 's' } },
	{ action: 'cancelFinalize', keys: ['x'], contexts: { sessions: 'x cancel', detail: 'x cancel' }, description: "give up the selected session's finalize before step 6: its copy stops, the VM runs on from its backup", help: { keys: 'x', text: 'cancel a finalize before step 6: the VM runs on from its backup' } },
	{ action: 'restartVm', keys: ['R'], contexts: { ...inPanes('R restart VM'), backups: null }, description: 'restart the VM of the selected session that should run and does not (no write is lost)', help: { keys: 'R' } },
	{ action: 'faster', keys: ['+'], contexts: { sessions: '+/- copy rate', detail: '+/- copy rate' }, description: "raise the rate limit of the selected session's running copy (to the next step, or none)", help: { keys: '+ -' , text: "raise / lower the rate limit of the selected session's running copy, whoever drives it" } },
	{ action: 'slower', keys: ['-'], contexts: { sessions: '+/- copy rate', detail: '+/- copy rate' }, description: "lower the rate limit of the selected session's running copy" },
	{ action: 'pauseCopy', keys: ['p'], contexts: { sessions: 'p pause/resume', detail: 'p pause/resume' }, description: "pause / resume the selected session's running copy", help: { keys: 'p' } },
	{ action: 'screen', keys: ['c'], contexts: { sessions: 'c console', detail: 'c console' }, description: "the selected session's VM: serial console (lab, libvirt) or screen (Hyper-V)", help: { keys: 'c' } },
	{ action: 'hostVms', keys: ['v'], contexts: { ...ALL_PANES, host: 'v back' }, description: "the host's VMs and what each is to rundirect; there o / x: power on / off", help: { keys: 'v' } },
	{ action: 'powerOn', keys: ['o'], contexts: { host: 'o power on' }, description: 'power the selected host VM on (not one a session holds)' },
	{ action: 'powerOff', keys: ['x'], contexts: { host: 'x power off' }, description: 'power the selected host VM off, as pulling its plug (asks first)' },
	{ action: 'showFinished', keys: ['F'], contexts: { sessions: 'F finished', detail: null }, description: 'show (or fold again) the finished sessions older than 15 minutes', help: { keys: 'F' } },
	{ action: 'mark', keys: ['space'], contexts: { backups: 'Space mark' }, description: 'mark / unmark a VM (or a restore point) for a recovery drill', help: { keys: 'Space' } },
	{ action: 'drill', keys: ['d'], contexts: inPanes('d drill'), description: 'drill the marked VMs, or the selected one: boot each under a new name, isolated', help: { keys: 'd' } },
	{ action: 'siteStart', keys: ['S'], contexts: ALL_PANES, description: 'site recovery of the marked VMs: each under its own name (replacing it), left running', help: { keys: 'S' } },
	{ action: 'finalizeMany', keys: ['A'], contexts: ALL_PANES, description: "finalize the marked VMs' sessions (or all from backup), a few at once, one rate limit", help: { keys: 'A' } },
	{ action: 'history', keys: ['H'], contexts: inPanes('H drills'), description: 'drill history: pass/fail and times (Enter: report and evidence, Esc back)', help: { keys: 'H' } },
	{ action: 'nextPane', keys: ['tab'], contexts: inPanes('Tab pane'), description: 'next / previous pane: backups → sessions → task tree', help: { keys: 'Tab  Shift+Tab' } },
	{ action: 'previousPane', keys: ['shift+tab'], contexts: ALL_PANES, description: 'the previous pane' },
	{ action: 'filter', keys: ['/'], contexts: inPanes('/ filter'), description: 'filter VMs by name (Enter keeps the filter, Esc clears it)', help: { keys: '/' } },
	{ action: 'refresh', keys: ['r'], contexts: { ...inPanes('r refresh'), sessions: null }, description: 'read the backups, sessions and host again', help: { keys: 'r' } },
	{ action: 'warnings', keys: ['w'], contexts: inPanes('w warnings'), description: 'every warning in full, and the last messages (the header counts them)', help: { keys: 'w' } },
	{ action: 'help', keys: ['?'], contexts: inPanes('? help'), description: 'this help: every key, and the warnings in full' },
	{ action: 'dismiss', keys: ['escape'], contexts: { backups: null, sessions: null, detail: null, history: null, host: null }, description: 'close a dialog, clear a message', help: { keys: 'Esc' } },
	{ action: 'quit', keys: ['q', 'ctrl+c'], contexts: inPanes('q quit'), description: 'quit — VMs and copies on the host go on; reopen to see them', help: { keys: 'q  Ctrl+C' } },

	// ------------------------------------------------------------------ the filter being typed (the status row is its text field)
	{ action: 'type', keys: ['typing'], contexts: { filter: 'type to filter' }, description: 'the filter itself', field: true },
	{ action: 'keep', keys: ['enter'], contexts: { filter: 'Enter keep' }, description: 'keep the filter and go back to the panes', field: true },
	{ action: 'clear', keys: ['escape'], contexts: { filter: 'Esc clear' }, description: 'clear the filter and go back to the panes' },

	// ------------------------------------------------------------------ no lab yet
	{ action: 'runLabInit', keys: ['enter', 'y'], contexts: { lab: 'Enter run lab init' }, description: 'build the lab (rundirect lab init)' },
	{ action: 'quit', keys: ['q', 'escape'], contexts: { lab: 'q quit' }, description: 'quit without building the lab' },

	// ------------------------------------------------------------------ sessions found interrupted on open
	{ action: 'continue', keys: ['enter', 'c'], contexts: { resume: 'c continue' }, description: 'continue the selected session from its journal' },
	{ action: 'rollBack', keys: ['b'], contexts: { resume: 'b roll back' }, description: 'roll the selected session back (stop it; its name typed unless it is a drill’s)' },
	{ action: 'leave', keys: ['l'], contexts: { resume: 'l leave' }, description: 'leave the selected session as it is' },
	{ action: 'continueAll', keys: ['a'], contexts: { resume: 'a continue all' }, description: 'continue every session that can be' },
	{ action: 'leaveAll', keys: ['escape'], contexts: { resume: 'Esc leave all' }, description: 'leave them all as they are (f/s still work on them)' },

	// ------------------------------------------------------------------ the start form
	{ action: 'previousField', keys: ['up', 'shift+tab'], contexts: { start: null }, description: 'the previous field' },
	{ action: 'nextField', keys: ['down', 'tab'], contexts: { start: null }, description: 'the next field' },
	{ action: 'change', keys: ['left', 'right', 'space'], contexts: { start: null }, description: "change the field's choice" },
	{ action: 'review', keys: ['enter'], contexts: { start: null }, description: 'check the start and show what it will do' },

	// ------------------------------------------------------------------ confirmations, and the drill dialog
	{ action: 'confirm', keys: ['enter', 'y', 'Y'], contexts: { confirm: null, finalize: null, quit: 'y quit', drill: 'y/Enter run' }, description: 'yes: do what the dialog names' },
	{ action: 'nextSetting', keys: ['down', 'j', 'tab'], contexts: { drill: null }, description: 'the next setting (concurrency, timeout, checks or rate limit)' },
	{ action: 'previousSetting', keys: ['up', 'k', 'shift+tab'], contexts: { drill: null }, description: 'the previous setting' },
	{ action: 'increase', keys: ['right', '+', 'l'], contexts: { drill: '←→ change' }, description: 'more of the setting' },
	{ action: 'decrease', keys: ['left', '-', 'h'], contexts: { drill: '←→ change' }, description: 'less of the setting' },
	{ action: 'confirm', keys: ['enter'], contexts: { 'drill-check': 'Enter run' }, description: 'run it, with the checks typed' },
	{ action: 'type', keys: ['typing'], contexts: { 'drill-check': 'type checks' }, description: 'application checks for every VM: a command run inside each guest, or tcp:PORT; ; between them', field: true },
	{ action: 'nextSetting', keys: ['down', 'tab'], contexts: { 'drill-check': '↑↓ setting' }, description: 'the next setting' },
	{ action: 'previousSetting', keys: ['up', 'shift+tab'], contexts: { 'drill-check': null }, description: 'the previous setting' },
	{ action: 'increase', keys: ['right'], contexts: { finalize: null }, description: 'a higher copy rate limit' },
	{ action: 'decrease', keys: ['left'], contexts: { finalize: null }, description: 'a lower copy rate limit' },
	{ action: 'cancel', keys: ['escape', 'n', 'N', 'q'], contexts: { confirm: 'n/Esc cancel', finalize: 'Esc cancel', quit: 'n/Esc stay', drill: 'n/Esc cancel' }, description: 'no: close the dialog, nothing is done' },
	{ action: 'cancel', keys: ['escape'], contexts: { start: 'Esc cancel', 'confirm-typed': 'Esc cancel', 'drill-check': 'Esc cancel' }, description: 'close the dialog, nothing is done' },
	{ action: 'close', keys: ['any'], contexts: { help: 'any key: close help', warnings: 'any key: close', 'drill-refused': null }, description: 'close it' },
] as const satisfies readonly Binding[];

type Row = (typeof BINDINGS)[number];
export type ActionId = Row['action'];
/** The actions a context's handlers must run (text-field rows are the field's). */
export type ActionIn<C extends Context> = C extends Context ? Exclude<Extract<Row, { readonly contexts: { readonly [K in C]: unknown } }>, { readonly field: true }>['action'] : never;
export type Handlers<C extends Context> = { readonly [A in ActionIn<C>]: () => void };

const byContext = new Map<Context, Map<string, Binding>>();
for (const binding of BINDINGS as readonly Binding[]) {
	for (const context of Object.keys(binding.contexts) as Context[]) {
		let keys = byContext.get(context);
		if (!keys) byContext.set(context, (keys = new Map<string, Binding>()));
		for (const name of binding.keys) if (!keys.has(name)) keys.set(name, binding);
	}
}

/** The bindings of a context, in table order. */
export function bindingsOf(context: Context): Binding[] {
	return (BINDINGS as readonly Binding[]).filter((binding) => context in binding.contexts);
}

/** Ink's view of a keypress as one name of the table: "up", "shift+tab", "ctrl+c", "space", "G". */
export function keyName(input: string, key: Key): string {
	if (key.upArrow) return 'up';
	if (key.downArrow) return 'down';
	if (key.leftArrow) return 'left';
	if (key.rightArrow) return 'right';
	if (key.pageUp) return 'pageUp';
	if (key.pageDown) return 'pageDown';
	if (key.home) return 'home';
	if (key.end) return 'end';
	if (key.tab) return key.shift ? 'shift+tab' : 'tab';
	if (key.return) return 'enter';
	if (key.escape) return 'escape';
	if (key.backspace) return 'backspace';
	if (key.delete) return 'delete';
	if (key.ctrl) return `ctrl+${input}`;
	return input === ' ' ? 'space' : input;
}

/** The binding a key hits in a context: its own row, else `typing` for printable text, else `any`. */
export function bindingFor(context: Context, input: string, key: Key): Binding | undefined {
	const keys = byContext.get(context);
	if (!keys) return undefined;
	const name = keyName(input, key);
	const printable = input !== '' && (name === input || name === 'space') && !key.meta;
	return keys.get(name) ?? (printable ? keys.get('typing') : undefined) ?? keys.get('any');
}

/** The action a key runs in a context; undefined for none, or for what a text field reads. */
export function actionFor(context: Context, input: string, key: Key): ActionId | undefined {
	const binding = bindingFor(context, input, key);
	return binding && !binding.field ? (binding.action as ActionId) : undefined;
}

/** The footer's key hints for a context, in table order, but for the actions not offered now. */
export function hintsFor(context: Context, notOffered: ReadonlySet<string> = new Set()): string {
	const hints: string[] = [];
	for (const binding of bindingsOf(context)) {
		if (notOffered.has(binding.action)) continue;
		const hint = binding.contexts[context];
		if (hint && !hints.includes(hint)) hints.push(hint);
	}
	return hints.join(' · ');
}

/** The help overlay's rows: keys column, then what they do. */
export function helpRows(): Array<{ keys: string; text: string }> {
	return (BINDINGS as readonly Binding[]).flatMap((binding) => (binding.help ? [{ keys: binding.help.keys, text: binding.help.text ?? binding.description }] : []));
}
