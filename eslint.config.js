// ESLint (flat config). TypeScript is linted with type information (typescript-eslint's project
// service reads tsconfig.json), with the recommended type-checked rules plus the few stricter ones
// that catch real bugs in this code: promises nobody awaits, promises where a void callback is
// expected, `any`, and switches that miss a case. Layering is not ESLint's job: dependency-cruiser
// (.dependency-cruiser.cjs) checks it. Formatting is nobody's job here: no stylistic rules.
import js from '@eslint/js';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import reactHooks from 'eslint-plugin-react-hooks';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
	globalIgnores([
		'dist/',
		'coverage/',
		'test-results/',
		'.cache/',
		// Fixture trees for the dependency rules: tiny files that exist to break a rule.
		'test/architecture/fixtures/',
	]),
	{
		linterOptions: {
			// A disable comment that no longer suppresses anything is an error, not a silent leftover.
			reportUnusedDisableDirectives: 'error',
			reportUnusedInlineConfigs: 'error',
		},
	},
	js.configs.recommended,
	comments.recommended,
	{
		rules: {
			// Every eslint-disable says why: `// eslint-disable-next-line rule -- reason`.
			'@eslint-community/eslint-comments/require-description': ['error', { ignore: ['eslint-enable'] }],
			// A disable comment names the rule it silences.
			'@eslint-community/eslint-comments/no-unlimited-disable': 'error',
		},
	},
	{
		files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
		languageOptions: { globals: globals.node },
	},
	{
		files: ['**/*.cjs'],
		languageOptions: { sourceType: 'commonjs' },
	},
	{
		files: ['**/*.ts', '**/*.tsx'],
		extends: [tseslint.configs.recommendedTypeChecked],
		languageOptions: {
			parserOptions: {
				projectService: true,
				tsconfigRootDir: import.meta.dirname,
			},
		},
		rules: {
			// Already in recommendedTypeChecked; listed because they are why type information pays.
			'@typescript-eslint/no-floating-promises': 'error',
			'@typescript-eslint/no-misused-promises': 'error',
			// `any` only with a disable comment that says why.
			'@typescript-eslint/no-explicit-any': 'error',
			// Type-only imports vanish at run time: say so, so no import cycle or side effect hides in one.
			'@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
			'@typescript-eslint/no-import-type-side-effects': 'error',
			// A switch over a union names every member (or has a default that handles the rest).
			'@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
			'@typescript-eslint/only-throw-error': 'error',
			// Passing on a rejection whose reason is `unknown` (a caught error) is fine; inventing a non-Error is not.
			'@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
			// An async method without `await` is how a fake or a quick path fulfils an async interface;
			// the promise rules above catch the mistakes that matter.
			'@typescript-eslint/require-await': 'off',
			'@typescript-eslint/return-await': ['error', 'in-try-catch'],
			// `_` marks a parameter or binding kept on purpose (a signature to satisfy, a rest split).
			'@typescript-eslint/no-unused-vars': [
				'error',
				{ argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
			],
		},
	},
	{
		files: ['**/*.tsx', 'source/ui/**/*.ts'],
		plugins: { 'react-hooks': reactHooks },
		rules: {
			'react-hooks/rules-of-hooks': 'error',
			'react-hooks/exhaustive-deps': 'error',
		},
	},
	{
		// Outside the drivers, code asks a host's capabilities (source/hosts/capabilities.ts), never
		// which driver it is: no `host.kind` tests, no `instanceof SomeHost`.
		files: ['source/**/*.ts', 'source/**/*.tsx', 'cli.tsx'],
		ignores: ['source/hosts/**'],
		rules: {
			'no-restricted-syntax': [
				'error',
				{ selector: "MemberExpression[property.name='kind'][object.name=/^host$/i]", message: 'Ask a capability (source/hosts/capabilities.ts) instead of testing which host this is.' },
				{ selector: "MemberExpression[property.name='kind'][object.property.name=/^host$/i]", message: 'Ask a capability (source/hosts/capabilities.ts) instead of testing which host this is.' },
				{ selector: "BinaryExpression[operator='instanceof'][right.name=/Host$/]", message: 'Ask a capability (source/hosts/capabilities.ts) instead of testing which driver this is.' },
			],
		},
	},
	{
		// The launcher's bundle defines `fetch` as undefined (bin/rundirect.js: yoga-layout's loader
		// would load Node's fetch for the first frame): the sources must not use it.
		files: ['source/**/*.ts', 'source/**/*.tsx', 'cli.tsx'],
		rules: {
			'no-restricted-globals': ['error', { name: 'fetch', message: "The console's bundle has no fetch (bin/rundirect.js): use node:http or node:https." }],
		},
	},
]);
