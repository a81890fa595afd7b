// Proves the layering rules of .dependency-cruiser.cjs: every rule catches the forbidden arrows
// of its own fixture tree (and nothing else fires there), a tree of only allowed arrows passes,
// `npm run deps` fails on a violation, and the real tree is still cruised by the same rules.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = path.join(REPO, '.dependency-cruiser.cjs');
const FIXTURES = path.join(REPO, 'test/architecture/fixtures');
/** The CLI `npm run deps` runs, started with this Node (not whichever `node` is first on PATH). */
const DEPCRUISE = path.join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');

/**
 * Fixture tree (named after the rule it breaks) → every violation it must produce, as
 * `rule: from → to`. Overlaps are listed too: an arrow to a driver from outside the registry
 * also breaks driver-only-via-registry.
 */
const EXPECTED: Record<string, string[]> = {
	// A cycle is reported once, at one of its arrows.
	'no-circular': ['no-circular: source/restore/journal.ts → source/restore/session.ts'],
	'no-unresolvable': ['no-unresolvable: source/core/errors.ts → ./missing.ts'],
	'core-not-to-other-parts': ['core-not-to-other-parts: source/core/format.ts → source/catalog/schema.ts'],
	'catalog-not-to-hosts': [
		'catalog-not-to-hosts: source/catalog/catalog.ts → source/hosts/host.ts',
		'catalog-not-to-hosts: source/catalog/catalog.ts → source/hosts/lab/driver.ts',
		'driver-only-via-registry: source/catalog/catalog.ts → source/hosts/lab/driver.ts',
	],
	'catalog-not-to-engine': ['catalog-not-to-engine: source/catalog/catalog.ts → source/restore/session.ts'],
	'catalog-not-to-ui': ['catalog-not-to-ui: source/catalog/catalog.ts → source/ui/model.ts'],
	'catalog-not-to-callers': ['catalog-not-to-callers: source/catalog/catalog.ts → source/commands/listings.ts'],
	'engine-not-to-ui': ['engine-not-to-ui: source/restore/engine.ts → source/app.tsx', 'engine-not-to-ui: source/restore/engine.ts → source/ui/store.ts'],
	'engine-not-to-callers': [
		'engine-not-to-callers: source/restore/engine.ts → cli.tsx',
		'engine-not-to-callers: source/restore/engine.ts → source/commands/context.ts',
		'engine-not-to-callers: source/restore/engine.ts → source/drill/run.ts',
		'engine-not-to-callers: source/restore/engine.ts → source/main.ts',
	],
	'engine-not-to-driver': [
		'driver-only-via-registry: source/restore/engine.ts → source/hosts/hyperv/driver.ts',
		'driver-only-via-registry: source/restore/engine.ts → source/hosts/lab/driver.ts',
		'engine-not-to-driver: source/restore/engine.ts → source/hosts/hyperv/driver.ts',
		'engine-not-to-driver: source/restore/engine.ts → source/hosts/lab/driver.ts',
	],
	'engine-not-to-registry': ['engine-not-to-registry: source/restore/engine.ts → source/hosts/registry.ts'],
	'engine-not-to-lab-builder': [
		'engine-not-to-lab-builder: source/restore/engine.ts → source/lab-builder/guest.ts',
		'engine-not-to-lab-builder: source/restore/engine.ts → source/lab/guest.ts',
	],
	'ui-not-to-driver': [
		'driver-only-via-registry: source/app.tsx → source/hosts/hyperv/driver.ts',
		'driver-only-via-registry: source/ui/launch.tsx → source/hosts/lab/accel.ts',
		'ui-not-to-driver: source/app.tsx → source/hosts/hyperv/driver.ts',
		'ui-not-to-driver: source/ui/launch.tsx → source/hosts/lab/accel.ts',
	],
	'ui-not-to-lab-builder': ['ui-not-to-lab-builder: source/app.tsx → source/lab-builder/init.ts', 'ui-not-to-lab-builder: source/ui/launch.tsx → source/lab/init.ts'],
	'host-seam-not-upward': [
		'host-seam-not-upward: source/hosts/capabilities.ts → source/ui/model.ts',
		'host-seam-not-upward: source/hosts/host.ts → source/restore/session.ts',
		'host-seam-not-upward: source/hosts/registry.ts → source/commands/context.ts',
	],
	'driver-not-to-engine': ['driver-not-to-engine: source/hosts/lab/driver.ts → source/restore/session.ts'],
	'driver-not-to-ui': ['driver-not-to-ui: source/hosts/hyperv/driver.ts → source/app.tsx', 'driver-not-to-ui: source/hosts/hyperv/driver.ts → source/ui/model.ts'],
	'driver-not-to-callers': [
		'driver-not-to-callers: source/hosts/lab/driver.ts → source/commands/context.ts',
		'driver-not-to-callers: source/hosts/lab/driver.ts → source/drill/store.ts',
	],
	'driver-not-to-registry': ['driver-not-to-registry: source/hosts/lab/driver.ts → source/hosts/registry.ts'],
	'driver-not-to-lab-builder': ['driver-not-to-lab-builder: source/hosts/lab/driver.ts → source/lab/initrd.ts'],
	'driver-not-to-other-driver': [
		'driver-not-to-other-driver: source/hosts/hyperv/driver.ts → source/hosts/lab/qmp.ts',
		'driver-not-to-other-driver: source/hosts/libvirt/driver.ts → source/hosts/lab/qemu-img.ts',
	],
	'driver-only-via-registry': [
		'driver-only-via-registry: cli.tsx → source/hosts/hyperv/runbook.ts',
		'driver-only-via-registry: source/commands/lab.ts → source/hosts/lab/driver.ts',
		'driver-only-via-registry: source/hosts/capabilities.ts → source/hosts/hyperv/driver.ts',
	],
	'lab-builder-only-to-lab-driver': ['lab-builder-only-to-lab-driver: source/lab-builder/guest.ts → source/hosts/hyperv/vhdx.ts'],
	'lab-builder-not-upward': ['lab-builder-not-upward: source/lab/sample.ts → source/restore/journal.ts'],
	'qemu-only-to-core-and-catalog': [
		'driver-only-via-registry: source/qemu/qemu-img.ts → source/hosts/lab/errors.ts',
		'qemu-only-to-core-and-catalog: source/qemu/boot-sector.ts → source/ui/model.ts',
		'qemu-only-to-core-and-catalog: source/qemu/lab-guest.ts → source/restore/journal.ts',
		'qemu-only-to-core-and-catalog: source/qemu/qemu-img.ts → source/hosts/host.ts',
		'qemu-only-to-core-and-catalog: source/qemu/qemu-img.ts → source/hosts/lab/errors.ts',
	],
	clean: [],
};

let options: ICruiseOptions;
let rules: IForbiddenRuleType[];

beforeAll(async () => {
	options = await extractDepcruiseOptions(CONFIG);
	rules = options.ruleSet?.forbidden ?? [];
});

/** Cruises a tree the way `npm run deps` cruises the repository: source/ plus cli.tsx when there is one. */
async function cruiseTree(root: string): Promise<ICruiseResult> {
	const inputs = ['source', 'cli.tsx'].filter((entry) => existsSync(path.join(root, entry)));
	const { output } = await cruise(inputs, { ...options, baseDir: root });
	if (typeof output === 'string') throw new Error('dependency-cruiser returned a report instead of a result');
	return output;
}

function violations(result: ICruiseResult): string[] {
	return result.summary.violations.map((violation) => `${violation.rule.name}: ${violation.from} → ${violation.to}`).sort();
}

describe('dependency rules', () => {
	it('every rule has a fixture tree, and every fixture tree is expected', () => {
		const trees = readdirSync(FIXTURES).sort();
		expect(trees).toEqual(Object.keys(EXPECTED).sort());
		expect(rules.map((rule) => rule.name).sort()).toEqual(trees.filter((tree) => tree !== 'clean'));
	});

	for (const [tree, expected] of Object.entries(EXPECTED)) {
		it(tree === 'clean' ? 'passes a tree of only allowed arrows' : `catches ${tree}`, async () => {
			const result = await cruiseTree(path.join(FIXTURES, tree));
			expect(violations(result)).toEqual([...expected].sort());
			if (tree !== 'clean') expect(violations(result).some((line) => line.startsWith(`${tree}: `))).toBe(true);
			expect(result.summary.error).toBe(expected.length);
		});
	}

	it('`npm run deps` fails on a forbidden arrow and passes a clean tree', async () => {
		const depcruise = (tree: string) =>
			execa(process.execPath, [DEPCRUISE, 'source', ...(existsSync(path.join(FIXTURES, tree, 'cli.tsx')) ? ['cli.tsx'] : []), '--config', CONFIG], {
				cwd: path.join(FIXTURES, tree),
				reject: false,
			});
		const [bad, good] = await Promise.all([depcruise('ui-not-to-driver'), depcruise('clean')]);
		expect(bad.exitCode).not.toBe(0);
		expect(bad.stdout).toContain('ui-not-to-driver: source/ui/launch.tsx → source/hosts/lab/accel.ts');
		expect(good.exitCode).toBe(0);
	});

	it('the real tree is cruised by the same rules, and each rule still applies to real modules', async () => {
		const result = await cruiseTree(REPO);
		expect(result.summary.totalCruised).toBeGreaterThan(50);
		expect(result.summary.ruleSetUsed?.forbidden?.map((rule) => rule.name).sort()).toEqual(rules.map((rule) => rule.name).sort());
		const modules = result.modules.filter((module) => !module.coreModule && !module.source.startsWith('node_modules/')).map((module) => module.source);
		expect(modules).toContain('cli.tsx');
		expect(modules.filter((module) => module.startsWith('source/')).length).toBeGreaterThan(50);
		expect(result.modules.filter((module) => module.couldNotResolve).map((module) => module.source)).toEqual([]);
		// A renamed folder must not leave a rule matching nothing: each side of each rule names real files.
		for (const rule of rules) {
			if (!('to' in rule)) throw new Error(`${rule.name}: only rules with a from and a to are expected here`);
			const from = new RegExp(String(rule.from.path));
			expect(modules.some((module) => from.test(module)), `${rule.name}: no module matches from ${String(rule.from.path)}`).toBe(true);
			if (rule.to.path === undefined) continue;
			// `$1` stands for the folder the `from` side captured.
			const to = new RegExp(String(rule.to.path).replace(/\$1/g, '[^/]+'));
			expect(modules.some((module) => to.test(module)), `${rule.name}: no module matches to ${String(rule.to.path)}`).toBe(true);
		}
		// Every driver is a folder under hosts/, and there are at least the lab and Hyper-V ones.
		const drivers = new Set(modules.flatMap((module) => /^source\/hosts\/([^/]+)\//.exec(module)?.[1] ?? []));
		expect([...drivers]).toEqual(expect.arrayContaining(['lab', 'hyperv']));
	});
});
