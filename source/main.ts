// What bin/rundirect.js runs. The console's command line (no command, only global options, on
// a terminal) goes straight to the console, which draws its first frame before it loads the
// command-line parser, the engine and the hosts; everything else goes to cli.tsx. Anything
// this does not recognise is cli.tsx's to parse (and to reject), so the two cannot disagree.
import type { GlobalOptions } from './commands/context.ts';

const VALUE_OPTIONS: Readonly<Record<string, keyof GlobalOptions>> = {
	'--host': 'host',
	'--destination': 'destination',
	'--state-dir': 'stateDir',
	'--data-dir': 'dataDir',
	'--cache-dir': 'cacheDir',
};

/** The global options when `args` opens the console on this terminal; otherwise null. */
function consoleOptions(args: readonly string[], terminal: boolean): GlobalOptions | null {
	if (!terminal) return null;
	const options: GlobalOptions = {};
	for (let index = 0; index < args.length; index++) {
		const arg = args[index] as string;
		const equals = arg.indexOf('=');
		const name = arg.startsWith('--') && equals > 0 ? arg.slice(0, equals) : arg;
		const key = VALUE_OPTIONS[name];
		// A command, --json, --help, a short flag: the full parser.
		if (!key) return null;
		const value = equals > 0 && name !== arg ? arg.slice(equals + 1) : args[++index];
		if (value === undefined || (name === arg && value.startsWith('-'))) return null;
		(options as Record<string, string>)[key] = value;
	}
	return options;
}

const options = consoleOptions(process.argv.slice(2), process.stdin.isTTY === true && process.stdout.isTTY === true);
if (options) {
	const { launchConsole } = await import('./ui/launch.tsx');
	process.exitCode = await launchConsole(options);
} else {
	await import('../cli.tsx');
}
