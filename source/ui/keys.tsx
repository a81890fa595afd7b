// The console's one listener on the terminal. App mounts it once and it stays on; panes and
// dialogs register what they handle (a context of the keymap and a handler per action) while
// they are shown, and each key is looked up in the keymap for the context of every target
// registered. Registration happens as the frame is committed (a layout effect), so a dialog
// takes keys as soon as it is drawn: a listener per component, attached after the frame,
// would drop a key typed in that gap. Text fields (TextField) keep their own useInput.
import React, { createContext, useContext, useLayoutEffect, useRef, useState } from 'react';
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

export class KeyRouter {
	private readonly targets = new Set<{ current: KeyTarget }>();

	add(target: { current: KeyTarget }): () => void {
		this.targets.add(target);
		return () => this.targets.delete(target);
	}

	dispatch(input: string, key: Key): void {
		for (const { current: target } of [...this.targets]) {
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
export function useKeyTarget(target: KeyTarget, router?: KeyRouter): void {
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
