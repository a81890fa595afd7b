// One pre-formatted row of text, never wrapped: a list that wraps grows taller than its pane.
import type React from 'react';
import { Text } from 'ink';

export interface LineStyle {
	color?: string;
	bold?: boolean;
	dim?: boolean;
	inverse?: boolean;
}

export interface StyledLine extends LineStyle {
	key: string;
	text: string;
}

export function Line({ text, color, bold, dim, inverse }: Omit<StyledLine, 'key'>): React.JSX.Element {
	return (
		<Text color={color} bold={bold} dimColor={dim} inverse={inverse} wrap="truncate-end">
			{text === '' ? ' ' : text}
		</Text>
	);
}

export function Lines({ lines }: { lines: readonly StyledLine[] }): React.JSX.Element {
	return (
		<>
			{lines.map(({ key, ...line }) => (
				<Line key={key} {...line} />
			))}
		</>
	);
}
