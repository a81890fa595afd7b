// A build-time change to Ink's output buffer (node_modules/ink/build/output.js), applied by the
// launcher's esbuild plugin. Ink makes a new Output, and with it new caches, for every frame: each
// frame then tokenizes every line of the screen into styled characters and measures each
// character's width again (string-width, Intl.Segmenter), although a keypress changes a line or
// two. That was the largest part of a frame's CPU in the console (bench/console.ts). Shared
// across frames, the caches make an unchanged line cost a Map lookup. They are bounded: progress
// lines bring new strings every second, so the caches start over past a few thousand entries (a
// screen holds a few hundred). Ink's Output never mutates a cached styled character (it writes
// new cells), so sharing changes no frame.
import { readFileSync } from 'node:fs';

const ONE_PER_FRAME = 'caches = new OutputCaches();';
const SHARED = `caches = rundirectSharedOutputCaches();`;
const FACTORY = `
// rundirect (bin/ink-output-caches.js): the caches outlive a frame, bounded.
let rundirectShared = null;
function rundirectSharedOutputCaches() {
    if (rundirectShared === null || rundirectShared.styledChars.size + rundirectShared.widths.size + rundirectShared.blockWidths.size > 4096) rundirectShared = new OutputCaches();
    return rundirectShared;
}
`;

/** Ink's output.js with caches shared across frames; null when this Ink is not the shape the change knows. */
export function shareInkOutputCaches(source) {
	if (source.split(ONE_PER_FRAME).length !== 2 || !/\bclass OutputCaches\b/.test(source) || !/\bstyledChars = new Map\(\)/.test(source)) return null;
	return source.replace(ONE_PER_FRAME, SHARED) + FACTORY;
}

/** The file the change applies to (esbuild reports real paths: node_modules may be a symlink). */
const INK_OUTPUT = /[\\/]ink[\\/]build[\\/]output\.js$/;

/** The esbuild plugin that makes the change; an Ink of another shape is bundled as it is. */
export function inkOutputCachesPlugin() {
	return {
		name: 'ink-output-caches-across-frames',
		setup(context) {
			context.onLoad({ filter: INK_OUTPUT }, (args) => {
				const source = readFileSync(args.path, 'utf8');
				return { contents: shareInkOutputCaches(source) ?? source, loader: 'js' };
			});
		},
	};
}
