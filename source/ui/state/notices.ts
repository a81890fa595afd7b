// The status line's message: the latest notice or error, with what to do next.
import { toUiError } from '../model.ts';
import { Slice } from './slice.ts';

export interface Notice {
	level: 'info' | 'error';
	text: string;
	hint: string | null;
}

export interface LoggedNotice extends Notice {
	at: number;
}

export interface NoticesState {
	notice: Notice | null;
	/** The last notices, oldest first (w shows them): a message replaced by the next is not lost. */
	log: readonly LoggedNotice[];
}

export interface NoticeActions {
	notify(notice: Notice): void;
	dismiss(): void;
	/** Clears the status line when it shows an error: the next action has begun. */
	dismissError(): void;
}

const LOG_SIZE = 100;

export function errorNotice(error: unknown): Notice {
	const { message, hint } = toUiError(error);
	return { level: 'error', text: message, hint };
}

export class NoticesSlice extends Slice<NoticesState> implements NoticeActions {
	notify(notice: Notice): void {
		this.update({ notice, log: [...this.state.log.slice(-(LOG_SIZE - 1)), { ...notice, at: Date.now() }] });
	}

	info(text: string): void {
		this.notify({ level: 'info', text, hint: null });
	}

	dismiss(): void {
		if (this.state.notice) this.update({ notice: null });
	}

	dismissError(): void {
		if (this.state.notice?.level === 'error') this.update({ notice: null });
	}
}
