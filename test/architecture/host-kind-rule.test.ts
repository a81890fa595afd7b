// The rule "outside the drivers, ask a capability, never which host it is" is ESLint's
// no-restricted-syntax, configured in eslint.config.js. This proves the configuration applies
// where it should and that its selectors catch each way of breaking the rule.
import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function restrictedSyntaxFor(file: string): Promise<Linter.RuleEntry | undefined> {
	const config = (await eslint.calculateConfigForFile(file)) as Linter.Config;
	return config.rules?.['no-restricted-syntax'];
}

function violations(rule: Linter.RuleEntry, code: string): string[] {
	const linter = new Linter({ configType: 'flat' });
	const messages = linter.verify(code, [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, rules: { 'no-restricted-syntax': rule } }], 'probe.ts');
	return messages.map((message) => message.message);
}

describe('no host-kind tests outside the drivers', () => {
	it('applies to the engine, commands, drills and the console, not to the drivers', async () => {
		for (const file of ['source/restore/engine.ts', 'source/commands/plan.ts', 'source/drill/run.ts', 'source/ui/launch.tsx', 'cli.tsx']) {
			expect(await restrictedSyntaxFor(file), file).toBeDefined();
		}
		expect(await restrictedSyntaxFor('source/hosts/lab/driver.ts')).toBeUndefined();
	});

	it('catches host.kind, engine.host.kind and instanceof of a host class, and lets other kinds be', async () => {
		const rule = await restrictedSyntaxFor('source/commands/plan.ts');
		if (!rule) throw new Error('no-restricted-syntax is not configured for source/commands');
		expect(violations(rule, "declare const host: { kind: string }; export const a = host.kind === 'lab';")).toHaveLength(1);
		expect(violations(rule, "declare const context: { engine: { host: { kind: string } } }; export const a = context.engine.host.kind !== 'hyperv';")).toHaveLength(1);
		expect(violations(rule, 'class LabHost {} declare const host: unknown; export const a = host instanceof LabHost;')).toHaveLength(1);
		expect(violations(rule, "declare const row: { kind: string }; export const a = row.kind === 'vm';")).toEqual([]);
	});
});
