// The PowerShell grammar (tree-sitter-powershell's wasm under web-tree-sitter), for checking that
// generated scripts parse and for reading their cmdlet invocations.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

let parser: Promise<Parser> | null = null;

export function powershellParser(): Promise<Parser> {
	parser ??= (async () => {
		const require = createRequire(import.meta.url);
		const dir = path.dirname(require.resolve('tree-sitter-powershell/package.json'));
		await Parser.init();
		const language = await Language.load(path.join(dir, 'tree-sitter-powershell.wasm'));
		const instance = new Parser();
		instance.setLanguage(language);
		return instance;
	})();
	return parser;
}

export interface SyntaxProblem {
	kind: 'ERROR' | 'MISSING';
	line: number;
	column: number;
	text: string;
}

export function syntaxProblems(root: Node): SyntaxProblem[] {
	const problems: SyntaxProblem[] = [];
	const visit = (node: Node) => {
		if (node.isError || node.isMissing) {
			problems.push({ kind: node.isMissing ? 'MISSING' : 'ERROR', line: node.startPosition.row + 1, column: node.startPosition.column + 1, text: node.text.slice(0, 80) });
		}
		for (const child of node.children) if (child) visit(child);
	};
	visit(root);
	return problems;
}

export async function parsePowerShell(text: string): Promise<{ root: Node; problems: SyntaxProblem[] }> {
	const tree = (await powershellParser()).parse(text);
	if (!tree) throw new Error('tree-sitter returned no tree');
	return { root: tree.rootNode, problems: syntaxProblems(tree.rootNode) };
}

export interface CommandUse {
	name: string;
	parameters: string[];
	line: number;
}

/** Every command invocation by name (`Verb-Noun -Param …`), with the parameter names it passes. */
export function commandUses(root: Node): CommandUse[] {
	const uses: CommandUse[] = [];
	const visit = (node: Node) => {
		if (node.type === 'command') {
			const name = node.children.find((child) => child?.type === 'command_name');
			if (name) {
				const parameters: string[] = [];
				const elements = node.children.find((child) => child?.type === 'command_elements');
				for (const element of elements?.children ?? []) {
					if (element?.type === 'command_parameter') parameters.push(element.text.replace(/^-/, '').replace(/:.*$/, ''));
				}
				uses.push({ name: name.text, parameters, line: node.startPosition.row + 1 });
			}
		}
		for (const child of node.children) if (child) visit(child);
	};
	visit(root);
	return uses;
}
