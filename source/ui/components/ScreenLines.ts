// The detail pane's `c` view: what a session's VM shows. A serial console's lines are the
// guest's bytes — escape sequences and control characters are taken out before they reach the
// operator's terminal (a guest must not be able to move the cursor or retitle the window); a
// Hyper-V thumbnail is drawn in characters.
import { formatDuration } from '../../core/format.ts';
import { decodePng, textPicture } from '../../core/picture.ts';
import type { ScreenState } from '../state/screen.ts';
import { wrapText } from '../model.ts';
import type { StyledLine } from './Line.tsx';

// eslint-disable-next-line no-control-regex -- escape sequences are exactly what this removes
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
// eslint-disable-next-line no-control-regex -- and the control characters left after them
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** A guest's line as plain text: no escape sequence, no control character; tabs as spaces. */
export function printable(line: string): string {
	return line.replace(ESCAPES, '').replace(/\t/g, '    ').replace(CONTROLS, '');
}

export function screenLines(screen: ScreenState, vm: string, width: number, rows: number, now: number): StyledLine[] {
	const age = screen.at === null ? 'reading…' : `read ${formatDuration(Math.max(0, now - screen.at) / 1000)} ago, again every ${formatDuration(screen.everyMs / 1000)}`;
	const lines: StyledLine[] = [{ key: 'h', text: `${vm} · ${screen.source ?? 'the VM'} · ${age}`, dim: true }];
	if (screen.error) {
		wrapText(`✖ ${screen.error.message}${screen.error.hint ? ` — ${screen.error.hint}` : ''}`, width).forEach((text, index) => lines.push({ key: `e${index}`, text, color: 'red' }));
		return lines;
	}
	const evidence = screen.evidence;
	if (!evidence) return lines;
	if (evidence.kind === 'thumbnail' && evidence.pngBase64) {
		try {
			const picture = decodePng(Buffer.from(evidence.pngBase64, 'base64'));
			textPicture(picture, width, Math.max(1, rows - 1)).forEach((text, index) => lines.push({ key: `p${index}`, text }));
		} catch (error) {
			lines.push({ key: 'pe', text: `✖ the screen thumbnail cannot be drawn: ${(error as Error).message}`, color: 'red' });
		}
		return lines;
	}
	const text = (evidence.text ?? '').split('\n').map(printable);
	while (text.length > 0 && text[text.length - 1]?.trim() === '') text.pop();
	if (text.length === 0) {
		lines.push({ key: 'none', text: 'The guest has printed nothing on its serial console yet.', dim: true });
		return lines;
	}
	text.forEach((line, index) => lines.push({ key: `s${index}`, text: line }));
	return lines;
}
