// The status line's message: the latest notice or error, with what to do next.
import { toUiError } from '../model.ts';
import { Slice } from './slice.ts';

export interface Notice {
	level: 'info' | 'error';
	text: string;
	hint: string | null;
}

export interface NoticesState {
	notice: Notice | null;
}

export interface NoticeActions {
	notify(notice: Notice): void;
	dismiss(): void;
}

export function errorNotice(error: unknown): Notice {
	const { message, hint } = toUiError(error);
	return { level: 'error', text: message, hint };
}

export class NoticesSlice extends Slice<NoticesState> implements NoticeActions {
	notify(notice: Notice): void {
		this.update({ notice });
	}

	info(text: string): void {
		this.notify({ level: 'info', text, hint: null });
	}

	dismiss(): void {
		if (this.state.notice) this.update({ notice: null });
	}
}
