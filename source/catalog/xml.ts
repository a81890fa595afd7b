// A small, strict XML reader for the domain XML a backup destination may hold (untrusted input).
// It reads elements, attributes, text, CDATA, comments and processing instructions; it refuses a
// DOCTYPE (no entity definitions, so no entity expansion), unknown entities, mismatched tags,
// more than one root, and documents past its size, depth or element limits. Namespace prefixes
// are kept as part of names. No package: the project has no XML dependency and needs this much.

export interface XmlElement {
	name: string;
	attributes: Readonly<Record<string, string>>;
	children: XmlElement[];
	/** The element's own text (not its descendants'), entities decoded. */
	text: string;
}

export class XmlError extends Error {
	override name = 'XmlError';
}

export interface XmlLimits {
	maxChars: number;
	maxDepth: number;
	maxElements: number;
}

/** A libvirt domain is a few KiB; these bounds are far above any real one. */
const DEFAULT_LIMITS: XmlLimits = { maxChars: 4 * 2 ** 20, maxDepth: 64, maxElements: 50_000 };

const NAME = /[A-Za-z_][\w.:-]*/y;
const SPACE = /[ \t\r\n]*/y;
const ENTITY = /&(?:#x([0-9A-Fa-f]{1,6})|#(\d{1,7})|(lt|gt|amp|quot|apos));/g;
const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string, where: () => string): string {
	if (!raw.includes('&')) return raw;
	const decoded = raw.replace(ENTITY, (_, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
		if (named) return NAMED[named] ?? '';
		const code = hex !== undefined ? Number.parseInt(hex, 16) : Number(dec);
		if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new XmlError(`invalid character reference in ${where()}`);
		return String.fromCodePoint(code);
	});
	// Whatever & is left did not form a known entity.
	if (raw.replace(ENTITY, '').includes('&')) throw new XmlError(`an unknown entity or a bare "&" in ${where()}`);
	return decoded;
}

/** Parses `text` into its root element, or throws XmlError saying where it is malformed. */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_LIMITS): XmlElement {
	if (text.length > limits.maxChars) throw new XmlError(`too large (over ${limits.maxChars} characters)`);
	let at = text.charCodeAt(0) === 0xfeff ? 1 : 0;
	const stack: XmlElement[] = [];
	let root: XmlElement | null = null;
	let count = 0;
	const line = () => `line ${text.slice(0, at).split('\n').length}`;
	const fail = (message: string): never => {
		throw new XmlError(`${message} (${line()})`);
	};
	const skipTo = (end: string, what: string): void => {
		const close = text.indexOf(end, at);
		if (close < 0) fail(`unterminated ${what}`);
		at = close + end.length;
	};
	const readName = (): string => {
		NAME.lastIndex = at;
		const match = NAME.exec(text);
		if (!match) fail('a name was expected');
		at = NAME.lastIndex;
		return (match as RegExpExecArray)[0];
	};
	const skipSpace = (): boolean => {
		SPACE.lastIndex = at;
		SPACE.exec(text);
		const moved = SPACE.lastIndex > at;
		at = SPACE.lastIndex;
		return moved;
	};

	while (at < text.length) {
		if (text.startsWith('<?', at)) {
			skipTo('?>', 'processing instruction');
		} else if (text.startsWith('<!--', at)) {
			skipTo('-->', 'comment');
		} else if (text.startsWith('<![CDATA[', at)) {
			const top = stack.at(-1);
			if (!top) fail('CDATA outside the root element');
			const start = at + '<![CDATA['.length;
			skipTo(']]>', 'CDATA section');
			(top as XmlElement).text += text.slice(start, at - 3);
		} else if (text.startsWith('<!', at)) {
			fail('a DOCTYPE or other declaration is not accepted');
		} else if (text.startsWith('</', at)) {
			at += 2;
			const name = readName();
			skipSpace();
			if (text[at] !== '>') fail(`">" expected to close </${name}`);
			at++;
			const open = stack.pop();
			if (!open) fail(`</${name}> closes nothing`);
			if ((open as XmlElement).name !== name) fail(`</${name}> closes <${(open as XmlElement).name}>`);
		} else if (text[at] === '<') {
			at++;
			if (root && stack.length === 0) fail('a second root element');
			const name = readName();
			const attributes: Record<string, string> = {};
			while (true) {
				const spaced = skipSpace();
				if (text.startsWith('/>', at) || text[at] === '>') break;
				if (!spaced) fail(`a space was expected between attributes of <${name}>`);
				const attribute = readName();
				skipSpace();
				if (text[at] !== '=') fail(`"=" expected after ${attribute} in <${name}>`);
				at++;
				skipSpace();
				const quote = text[at];
				if (quote !== "'" && quote !== '"') fail(`a quoted value expected for ${attribute} in <${name}>`);
				const end = text.indexOf(quote as string, at + 1);
				if (end < 0) fail(`unterminated value of ${attribute} in <${name}>`);
				const raw = text.slice(at + 1, end);
				if (raw.includes('<')) fail(`"<" in the value of ${attribute} in <${name}>`);
				if (Object.hasOwn(attributes, attribute)) fail(`attribute ${attribute} twice in <${name}>`);
				attributes[attribute] = decode(raw, () => `${attribute} of <${name}> (${line()})`);
				at = end + 1;
			}
			if (++count > limits.maxElements) fail(`more than ${limits.maxElements} elements`);
			const element: XmlElement = { name, attributes, children: [], text: '' };
			const parent = stack.at(-1);
			if (parent) parent.children.push(element);
			else root = element;
			if (text.startsWith('/>', at)) {
				at += 2;
			} else {
				at++;
				stack.push(element);
				if (stack.length > limits.maxDepth) fail(`nested deeper than ${limits.maxDepth} elements`);
			}
		} else {
			const next = text.indexOf('<', at);
			const raw = text.slice(at, next < 0 ? text.length : next);
			const top = stack.at(-1);
			if (top) top.text += decode(raw, () => `the text of <${top.name}> (${line()})`);
			else if (raw.trim() !== '') fail('text outside the root element');
			at = next < 0 ? text.length : next;
		}
	}
	if (stack.length > 0) throw new XmlError(`<${stack.at(-1)?.name}> is never closed`);
	if (!root) throw new XmlError('no root element');
	return root;
}

/** The first child element named `name`. */
export function childOf(element: XmlElement | undefined, name: string): XmlElement | undefined {
	return element?.children.find((child) => child.name === name);
}

/** Every child element named `name`, in document order. */
export function childrenOf(element: XmlElement | undefined, name: string): XmlElement[] {
	return element?.children.filter((child) => child.name === name) ?? [];
}
