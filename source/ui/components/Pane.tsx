// A bordered pane with a title row. The focused pane gets a double border and a "▶" marker:
// focus must be visible without colour (SSH terminals, screen readers, tests).
import type React from 'react';
import { Box, Text } from 'ink';
import { truncate } from '../model.ts';

export interface PaneProps {
	title: string;
	/** Right-aligned text on the title row, e.g. "12/5000". */
	info?: string;
	focused: boolean;
	width: number;
	height: number;
	children: React.ReactNode;
}

export function Pane({ title, info = '', focused, width, height, children }: PaneProps): React.JSX.Element {
	const inner = Math.max(1, width - 2);
	const label = `${focused ? '▶ ' : '  '}${title}`;
	const room = Math.max(0, inner - label.length - 1);
	const right = truncate(info, room);
	return (
		<Box flexDirection="column" width={width} height={height} borderStyle={focused ? 'double' : 'single'} borderColor={focused ? 'cyan' : 'gray'} overflow="hidden">
			<Box height={1} width={inner}>
				<Text bold={focused} color={focused ? 'cyan' : undefined} wrap="truncate-end">
					{truncate(label, inner)}
				</Text>
				<Box flexGrow={1} />
				<Text dimColor wrap="truncate-end">
					{right}
				</Text>
			</Box>
			{children}
		</Box>
	);
}

/** Rows a pane of this height has for content (borders and title row taken). */
export function paneBodyRows(height: number): number {
	return Math.max(0, height - 3);
}
