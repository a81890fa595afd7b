// The console's one listener on the terminal. App mounts it once and it stays on; panes and
// dialogs register what they handle (a context of the keymap and a handler per action) while
// they are shown, and each key is looked up in the keymap for the context of every target
// registered. Registration happens as the frame is committed (a layout effect), so a dialog
// takes keys as soon as it is drawn: a listener per component, attached after the frame,
// would drop a key typed in that gap. Text fields (TextField) read keys their own way, but
// through the same router (useTextInput), for the same reason.
import type React from 'react';
import { createContext, useContext, useLayoutEffect, useRef, useState } from 'react';
import { useInput, type Key } from 'ink';
import { actionFor, type ActionId, type Context, type Handlers } from './keymap.ts';

export interface KeyTarget {
	context(): Context;
	run(action: ActionId): void;
	/** Asked before every key, so a key that opens a dialog stops the rest of its chunk. */
	active(): boolean;
	/**
	 * Takes printable keys that arrive in one chunk ("jjj" from key repeat over SSH, or a
	 * script) one by one, each on the state the last left. Dialogs take a chunk as one input
	 * instead: "yy" must not confirm twice.
	 */
	replay?: boolean;
}

const NO_KEY: Key = {
	upArrow: false,
	downArrow: false,
	leftArrow: false,
	rightArrow: false,
	pageDown: false,
	pageUp: false,
	home: false,
	end: false,
	return: false,
	escape: false,
	ctrl: false,
	shift: false,
	tab: false,
	backspace: false,
	delete: false,
	meta: false,
	super: false,
	hyper: false,
	capsLock: false,
	numLock: false,
};

/** A chunk of printable keys as single keypresses (Enter and Tab included). */
function keystrokes(input: string, key: Key): Array<[string, Key]> {
	if (input.length <= 1 || key.ctrl || key.meta) return [[input, key]];
	return [...input].map((char) => (char === '\r' || char === '\n' ? ['', { ...NO_KEY, return: true }] : char === '\t' ? ['', { ...NO_KEY, tab: true }] : [char, NO_KEY]));
}

/** A text field: every key as Ink gives it, not looked up in the keymap. */
export interface TextTarget {
	text: (input: string, key: Key) => void;
	active(): boolean;
}

type Target = KeyTarget | TextTarget;

export class KeyRouter {
	/** In registration order: a dialog's text field (a child) before the dialog, as Ink orders useInput listeners. */
	private readonly targets = new Set<{ current: Target }>();

	add(target: { current: Target }): () => void {
		this.targets.add(target);
		return () => this.targets.delete(target);
	}

	dispatch(input: string, key: Key): void {
		for (const { current: target } of [...this.targets]) {
			if ('text' in target) {
				if (target.active()) target.text(input, key);
				continue;
			}
			for (const [char, stroke] of target.replay ? keystrokes(input, key) : [[input, key] as const]) {
				if (!target.active()) break;
				const action = actionFor(target.context(), char, stroke);
				if (action) target.run(action);
			}
		}
	}
}

const RouterContext = createContext<KeyRouter | null>(null);

/** The one useInput of the console; render children inside `<KeyRouterProvider router={…}>`. */
export function useKeyRouter(): KeyRouter {
	const [router] = useState(() => new KeyRouter());
	useInput((input, key) => router.dispatch(input, key));
	return router;
}

export function KeyRouterProvider({ router, children }: { router: KeyRouter; children: React.ReactNode }): React.JSX.Element {
	return <RouterContext.Provider value={router}>{children}</RouterContext.Provider>;
}

/** Registers a target while the component is shown; it always sees the last committed render's handlers. */
export function useKeyTarget(target: Target, router?: KeyRouter): void {
	const fromContext = useContext(RouterContext);
	const owner = router ?? fromContext;
	const latest = useRef(target);
	useLayoutEffect(() => {
		latest.current = target;
	});
	useLayoutEffect(() => owner?.add(latest), [owner]);
}

/** A component's keys: the context it stands for, and a handler for each of that context's actions. */
export function useKeys<C extends Context>(context: C, handlers: Handlers<C>, isActive = true, router?: KeyRouter): void {
	useKeyTarget(
		{
			context: () => context,
			run: (action) => (handlers as Partial<Record<ActionId, () => void>>)[action]?.(),
			active: () => isActive,
		},
		router,
	);
}

/** A text field's keys, raw; outside a router (a component rendered alone) it listens itself. */
export function useTextInput(handler: (input: string, key: Key) => void, isActive: boolean): void {
	const router = useContext(RouterContext);
	useInput(handler, { isActive: isActive && router === null });
	useKeyTarget({ text: handler, active: () => isActive && router !== null });
}
