// The frame every dialog draws in: it takes the body's place (header and footer stay), so a
// dialog can never push the frame past the terminal's height.
import type React from 'react';
import { Box } from 'ink';
import { Lines, type StyledLine } from './Line.tsx';

export interface DialogProps {
	title: string;
	width: number;
	height: number;
	color?: string;
	children?: React.ReactNode;
}

export function Dialog({ title, width, height, color = 'cyan', children }: DialogProps): React.JSX.Element {
	return (
		<Box flexDirection="column" width={width} height={height} borderStyle="round" borderColor={color} paddingX={1} overflow="hidden">
			<Lines lines={[{ key: 'title', text: title, bold: true, color }]} />
			{children}
		</Box>
	);
}

/** Rows and columns a dialog of this size has for content. */
export function dialogBody(width: number, height: number): { rows: number; columns: number } {
	return { rows: Math.max(0, height - 3), columns: Math.max(1, width - 4) };
}

export function clip(lines: StyledLine[], rows: number): StyledLine[] {
	if (lines.length <= rows) return lines;
	return [...lines.slice(0, Math.max(0, rows - 1)), { key: 'clip', text: `… ${lines.length - rows + 1} more lines (enlarge the terminal)`, dim: true }];
}

/** One setting of a dialog (↑↓ to it, ←→ to change it): "› Concurrency   ◂ 2 ▸  VMs booting at once". */
export function settingLine(name: string, label: string, value: string, note: string, focused: boolean): StyledLine {
	return { key: name, text: `${focused ? '›' : ' '} ${label.padEnd(13)} ◂ ${value} ▸  ${note}`, bold: focused, color: focused ? 'cyan' : undefined };
}
