// A one-line text input. Unlike ink-text-input it reads every character of a chunk in order:
// over SSH "db01⏎" often arrives as one chunk, and Enter must submit what was typed before it.
import type React from 'react';
import { useRef } from 'react';
import { Text } from 'ink';
import { useTextInput } from '../keys.tsx';

export interface TextFieldProps {
	value: string;
	onChange: (value: string) => void;
	onSubmit?: (value: string) => void;
	focus?: boolean;
	placeholder?: string;
}

export function TextField({ value, onChange, onSubmit, focus = true, placeholder = '' }: TextFieldProps): React.JSX.Element {
	// The latest value, ahead of React: several edits can arrive before the next render.
	const latest = useRef(value);
	latest.current = value;
	useTextInput(
		(input, key) => {
			if (key.return) {
				onSubmit?.(latest.current);
				return;
			}
			if (key.backspace || key.delete) {
				latest.current = latest.current.slice(0, -1);
				onChange(latest.current);
				return;
			}
			// Ctrl+U: the whole field goes, as in a shell.
			if (key.ctrl && input === 'u') {
				latest.current = '';
				onChange('');
				return;
			}
			if (key.ctrl || key.meta || key.escape || key.tab || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow) return;
			for (const char of input) {
				if (char === '\r' || char === '\n') {
					onChange(latest.current);
					onSubmit?.(latest.current);
					return;
				}
				if (char === '\u007F' || char === '\b') latest.current = latest.current.slice(0, -1);
				else if (char >= ' ') latest.current += char;
			}
			onChange(latest.current);
		},
		focus,
	);
	if (value === '' && !focus) return <Text dimColor>{placeholder}</Text>;
	return (
		<Text>
			{value === '' && placeholder ? <Text dimColor>{placeholder}</Text> : value}
			{focus ? <Text inverse> </Text> : null}
		</Text>
	);
}
