// The layering of rundirect, checked by dependency-cruiser (`npm run deps`, part of `npm test`).
// Dependencies point `ui → restore → (catalog, hosts)` with `core` below all; the headless
// commands and drills sit beside the console, above the engine. A driver is any folder under
// source/hosts/ (lab, hyperv, …); host.ts and capabilities.ts are the seam, and registry.ts is
// the one file that names drivers. source/qemu/ holds what the QEMU-running drivers and the lab
// builder share (qemu-img, the lab guest's marker, the probe boot sector). Type-only imports count: a layer that needs another's types
// depends on it all the same. test/architecture/ proves every rule against a fixture tree.

// Paths are relative to where the cruise runs (the repository root, or a fixture tree).
const ENTRY = '^(?:source/|cli\\.tsx$)';
const CORE = '^source/core/';
const CATALOG = '^source/catalog/';
const HOSTS = '^source/hosts/';
const DRIVER = '^source/hosts/[^/]+/';
/** host.ts, capabilities.ts, registry.ts: the files of hosts/ that are not a driver. */
const HOST_SEAM = '^source/hosts/[^/]+$';
const REGISTRY = '^source/hosts/registry\\.[cm]?[jt]sx?$';
const ENGINE = '^source/restore/';
const UI = '^source/(?:ui/|app\\.[jt]sx?$)';
/** What runs the engine for a user: headless commands, drills and the entry points. */
const CALLERS = '^(?:source/(?:commands/|drill/|main\\.[jt]sx?$)|cli\\.tsx$)';
/** The lab builder: source/lab/ or a renamed source/lab-<something>/ (e.g. lab-builder). */
const LAB_BUILDER = '^source/lab(?:/|-[^/]+/)';
/** The QEMU pieces two drivers and the lab builder share (a driver may not import another). */
const QEMU = '^source/qemu/';

const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
	forbidden: [
		forbid('no-circular', 'A cycle ties its modules into one: no part can be understood, tested or moved alone.', { path: ENTRY }, { circular: true }),
		forbid('no-unresolvable', 'An import that does not resolve: a typo, or a file moved without its importers (and a rule could stop matching).', { path: ENTRY }, { couldNotResolve: true }),

		forbid('core-not-to-other-parts', 'core is below every part: it imports nothing else of rundirect.', { path: CORE }, { path: ENTRY, pathNot: CORE }),

		forbid('catalog-not-to-hosts', 'The catalog reads backup destinations; which host restores them is none of its business.', { path: CATALOG }, { path: HOSTS }),
		forbid('catalog-not-to-engine', 'The engine uses the catalog, not the other way round.', { path: CATALOG }, { path: ENGINE }),
		forbid('catalog-not-to-ui', 'The catalog is below the console.', { path: CATALOG }, { path: UI }),
		forbid('catalog-not-to-callers', 'The catalog is below the commands and drills that use it.', { path: CATALOG }, { path: CALLERS }),

		forbid('engine-not-to-ui', 'The engine is driven by the console and the commands alike; it knows neither.', { path: ENGINE }, { path: UI }),
		forbid('engine-not-to-callers', 'The engine is below the headless commands, the drills and the entry points.', { path: ENGINE }, { path: CALLERS }),
		forbid('engine-not-to-driver', 'The engine knows hosts only through the Host interface and the capability guards.', { path: ENGINE }, { path: DRIVER }),
		forbid('engine-not-to-registry', 'Which host to open is decided by its callers; the engine is handed a Host.', { path: ENGINE }, { path: REGISTRY }),
		forbid('engine-not-to-lab-builder', 'The lab builder is a tool beside the engine, not a part of it.', { path: ENGINE }, { path: LAB_BUILDER }),

		forbid('ui-not-to-driver', 'Components never call a host directly, let alone a particular driver.', { path: UI }, { path: DRIVER }),
		forbid('ui-not-to-lab-builder', 'The console asks a command (or the engine) for lab work; it does not build the lab itself.', { path: UI }, { path: LAB_BUILDER }),

		forbid('host-seam-not-upward', 'The Host interface, capabilities and registry are below the engine and everything that uses it.', { path: HOST_SEAM }, { path: `${ENGINE}|${UI}|${CALLERS}` }),

		forbid('driver-not-to-engine', 'A driver implements Host; it never reaches back into the engine.', { path: DRIVER }, { path: ENGINE }),
		forbid('driver-not-to-ui', 'A driver has no idea a console exists.', { path: DRIVER }, { path: UI }),
		forbid('driver-not-to-callers', 'A driver is below the commands, drills and entry points that open it.', { path: DRIVER }, { path: CALLERS }),
		forbid('driver-not-to-registry', 'The registry names the drivers; a driver that imports it is a cycle in waiting.', { path: DRIVER }, { path: REGISTRY }),
		forbid('driver-not-to-lab-builder', 'The lab builder may use the lab driver, not the reverse.', { path: DRIVER }, { path: LAB_BUILDER }),
		forbid('driver-not-to-other-driver', 'Drivers are independent: what two share belongs in core or the seam.', { path: '^source/hosts/([^/]+)/' }, { path: DRIVER, pathNot: '^source/hosts/$1/' }),

		forbid(
			'driver-only-via-registry',
			'Only hosts/registry.ts names a driver (the lab builder may use the lab driver): everything else gets a Host.',
			{ path: ENTRY, pathNot: `${DRIVER}|${REGISTRY}|${LAB_BUILDER}` },
			{ path: DRIVER },
		),
		forbid('lab-builder-only-to-lab-driver', 'The lab builder builds for the lab host; other drivers are not its business.', { path: LAB_BUILDER }, { path: DRIVER, pathNot: '^source/hosts/lab/' }),
		forbid('lab-builder-not-upward', 'The lab builder is below the console, the commands and the engine that use it.', { path: LAB_BUILDER }, { path: `${ENGINE}|${UI}|${CALLERS}` }),

		forbid(
			'qemu-only-to-core-and-catalog',
			'The shared QEMU pieces sit below the drivers and the lab builder that use them: core and catalog only, no host, engine, UI or caller.',
			{ path: QEMU },
			{ path: ENTRY, pathNot: `${CORE}|${CATALOG}|${QEMU}` },
		),
	],
	options: {
		doNotFollow: { path: 'node_modules' },
		// Count `import type` too (see the top of this file).
		tsPreCompilationDeps: true,
		moduleSystems: ['es6', 'cjs'],
		enhancedResolveOptions: {
			extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'],
			conditionNames: ['import', 'node', 'default', 'types'],
			exportsFields: ['exports'],
			mainFields: ['module', 'main', 'types'],
		},
		reporterOptions: { text: { highlightFocused: true } },
	},
};
