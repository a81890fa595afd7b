// The console's keymap as a table: complete, unambiguous, in step with the README, and the
// one source of the key dispatch, the footer's hints and the help overlay. No terminal, no
// timing: the table is read, and the footer and help are rendered once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Key } from 'ink';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { BINDINGS, DIALOG_CONTEXTS, KEY_LABELS, PANE_CONTEXTS, actionFor, bindingsOf, helpRows, hintsFor, type Binding, type Context } from '../../source/ui/keymap.ts';
import { KeyRouter } from '../../source/ui/keys.tsx';
import { Footer } from '../../source/ui/components/Footer.tsx';
import { HelpOverlay } from '../../source/ui/components/HelpOverlay.tsx';

const README = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
const CONTEXTS: readonly Context[] = [...PANE_CONTEXTS, ...DIALOG_CONTEXTS];
const TABLE = BINDINGS as readonly Binding[];

const NONE: Key = { upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false };
const key = (patch: Partial<Key>): Key => ({ ...NONE, ...patch });

/** How a key reads on screen: "Enter", "↑", "q". */
function label(name: string): string {
	return name in KEY_LABELS ? KEY_LABELS[name as keyof typeof KEY_LABELS] : name;
}

/** The README's way of writing a key, as the table's name of it. */
function nameOf(written: string): string {
	const named = Object.entries(KEY_LABELS).find(([, shown]) => shown === written);
	return named ? named[0] : written;
}

/** Every key bound in a context. */
function keysIn(context: Context): string[] {
	return bindingsOf(context).flatMap((binding) => binding.keys);
}

describe('the keymap table', () => {
	it('gives every binding a description and known contexts, and every context its bindings', () => {
		for (const binding of TABLE) {
			expect(binding.description.trim(), binding.action).not.toBe('');
			expect(binding.keys.length, binding.action).toBeGreaterThan(0);
			for (const context of Object.keys(binding.contexts)) expect(CONTEXTS, `${binding.action} in ${context}`).toContain(context);
		}
		for (const context of CONTEXTS) expect(bindingsOf(context).length, context).toBeGreaterThan(0);
	});

	it('names each key once per context, as a named key or one character', () => {
		for (const context of CONTEXTS) {
			const keys = keysIn(context);
			const twice = keys.filter((name, index) => keys.indexOf(name) !== index);
			expect(twice, `bound twice in ${context}`).toEqual([]);
			for (const name of keys) expect(name in KEY_LABELS || [...name].length === 1, `${name} in ${context}`).toBe(true);
		}
	});

	it('binds every key the README documents for the panes', () => {
		const start = README.indexOf('| key | does |');
		expect(start).toBeGreaterThan(0);
		const rows = README.slice(start).split('\n').slice(2);
		const table = rows.slice(0, rows.findIndex((row) => !row.startsWith('|')));
		expect(table.length).toBeGreaterThan(5);
		const bound = new Set(PANE_CONTEXTS.flatMap(keysIn));
		for (const row of table) {
			const cell = row.split('|')[1] ?? '';
			const written = [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
			expect(written.length, row).toBeGreaterThan(0);
			for (const each of written) expect(bound, `${each} (${row})`).toContain(nameOf(each));
		}
		// The keys the rows name in passing, where they apply.
		expect(keysIn('finalize')).toEqual(expect.arrayContaining(['left', 'right']));
		expect(keysIn('history')).toContain('enter');
		expect(keysIn('report')).toContain('escape');
		expect(keysIn('filter')).toContain('escape');
	});

	it('binds the keys the README gives the interrupted sessions', () => {
		const paragraph = README.slice(README.indexOf('**Interrupted sessions on open**')).split('\n\n')[0] ?? '';
		for (const written of ['c', 'b', 'a', 'Esc']) {
			expect(paragraph).toContain(`\`${written}\``);
			expect(keysIn('resume')).toContain(nameOf(written));
		}
	});

	it('looks a key up in the context it is pressed in', () => {
		expect(actionFor('backups', ' ', NONE)).toBe('mark');
		expect(actionFor('backups', '\r', key({ return: true }))).toBe('open');
		expect(actionFor('backups', '', key({ rightArrow: true }))).toBe('expand');
		expect(actionFor('sessions', '\r', key({ return: true }))).toBe('showTaskTree');
		expect(actionFor('history', '', key({ rightArrow: true }))).toBe('openReport');
		expect(actionFor('report', '', key({ escape: true }))).toBe('backToHistory');
		expect(actionFor('detail', '', key({ escape: true }))).toBe('dismiss');
		expect(actionFor('detail', 'c', key({ ctrl: true }))).toBe('quit');
		expect(actionFor('sessions', 'G', key({ shift: true }))).toBe('last');
		expect(actionFor('backups', '', key({ tab: true, shift: true }))).toBe('previousPane');
		expect(actionFor('start', '', key({ tab: true, shift: true }))).toBe('previousField');
		expect(actionFor('resume', '\r', key({ return: true }))).toBe('continue');
		expect(actionFor('quit', 'y', NONE)).toBe('confirm');
		expect(actionFor('help', 'x', NONE)).toBe('close');
		// What a text field reads is the field's.
		expect(actionFor('filter', 'w', NONE)).toBeUndefined();
		expect(actionFor('filter', '\r', key({ return: true }))).toBeUndefined();
		expect(actionFor('confirm-typed', 'y', NONE)).toBeUndefined();
		// A chunk is one input to a dialog: "yy" confirms nothing.
		expect(actionFor('confirm', 'yy', NONE)).toBeUndefined();
		expect(actionFor('backups', 'x', NONE)).toBeUndefined();
	});
});

describe('the footer and the help, from the table', () => {
	it('hints, in each context, at keys bound there', () => {
		for (const context of CONTEXTS) {
			for (const binding of bindingsOf(context)) {
				const hint = binding.contexts[context];
				if (!hint) continue;
				const first = hint.split(' ')[0] ?? '';
				expect(
					binding.keys.some((name) => hint.startsWith(label(name)) || first.includes(label(name))),
					`"${hint}" in ${context}`,
				).toBe(true);
				expect(hintsFor(context)).toContain(hint);
			}
		}
	});

	it('keeps the hints the screens show', () => {
		// R, x, +/-, p, F and w are hinted only when they apply (a VM down, a copy running, sessions folded, warnings): the footer leaves them out otherwise.
		const seldom = new Set(['restartVm', 'cancelFinalize', 'showFinished', 'warnings', 'faster', 'slower', 'pauseCopy']);
		expect(hintsFor('backups', seldom)).toBe('↑↓ move · Enter open/restore · Space mark · d drill · H drills · Tab pane · / filter · r refresh · ? help · q quit');
		expect(hintsFor('sessions', seldom)).toBe('↑↓/jk select · Enter task tree · f finalize · s stop · c console · d drill · H drills · Tab pane · / filter · ? help · q quit');
		expect(hintsFor('detail', seldom)).toBe('↑↓/jk scroll · f finalize · s stop · c console · d drill · H drills · Tab pane · / filter · r refresh · ? help · q quit');
		expect(hintsFor('sessions')).toBe('↑↓/jk select · Enter task tree · f finalize · s stop · x cancel · R restart VM · +/- copy rate · p pause/resume · c console · F finished · d drill · H drills · Tab pane · / filter · w warnings · ? help · q quit');
		expect(hintsFor('filter')).toBe('type to filter · Enter keep · Esc clear');
		expect(hintsFor('resume')).toBe('↑↓ · c continue · b roll back · l leave · a continue all · Esc leave all');
		expect(hintsFor('drill')).toBe('y/Enter run · ←→ change · n/Esc cancel');
		expect(hintsFor('quit')).toBe('y quit · n/Esc stay');
		expect(hintsFor('lab')).toBe('Enter run lab init · q quit');
		expect(hintsFor('help')).toBe('↑↓ PgUp PgDn scroll · any key: close help');
	});

	it('draws the footer from the hints of the context, cut to the width', () => {
		for (const context of CONTEXTS) {
			const footer = render(<Footer context={context} notice={null} width={240} filterEdit={null} />);
			expect(footer.lastFrame()).toContain(hintsFor(context));
			footer.unmount();
		}
		const narrow = render(<Footer context="backups" notice={null} width={40} filterEdit={null} />);
		const row = narrow.lastFrame()?.split('\n')[1] ?? '';
		expect(row.length).toBeLessThanOrEqual(40);
		expect(row).toMatch(/^ ↑↓ move · Enter open\/restore .*…$/);
		narrow.unmount();
	});

	it('lists in the help a row for each binding that has one, naming its keys', () => {
		const rows = helpRows();
		expect(rows.length).toBe(TABLE.filter((binding) => binding.help).length);
		for (const binding of TABLE) {
			if (!binding.help) continue;
			expect(binding.keys.some((name) => binding.help?.keys.includes(label(name))), binding.help.keys).toBe(true);
		}
		const help = render(<HelpOverlay width={120} height={40} warnings={[]} onClose={() => undefined} />);
		const frame = help.lastFrame() ?? '';
		for (const row of rows) expect(frame).toContain(`${row.keys.padEnd(16)} ${row.text}`);
		help.unmount();
	});
});

describe('the key router', () => {
	it('takes a chunk key by key for the panes, until a key hands the keys over', () => {
		const router = new KeyRouter();
		const ran: string[] = [];
		let open = true;
		const run = (action: string): void => {
			ran.push(action);
			if (action === 'filter') open = false;
		};
		router.add({ current: { context: () => 'backups', run, active: () => open, replay: true } });
		router.dispatch('jj\r', NONE);
		expect(ran).toEqual(['down', 'down', 'open']);
		router.dispatch('j/jk', NONE);
		expect(ran).toEqual(['down', 'down', 'open', 'down', 'filter']);
	});

	it('gives a dialog a chunk as one input, and a text field every key as it came', () => {
		const router = new KeyRouter();
		const ran: string[] = [];
		const typed: string[] = [];
		router.add({ current: { text: (input) => typed.push(input), active: () => true } });
		router.add({ current: { context: () => 'confirm-typed', run: (action) => ran.push(action), active: () => true } });
		router.add({ current: { context: () => 'quit', run: (action) => ran.push(`never ${action}`), active: () => false } });
		router.dispatch('web01\r', NONE);
		router.dispatch('', key({ escape: true }));
		expect(typed).toEqual(['web01\r', '']);
		expect(ran).toEqual(['cancel']);
	});
});
