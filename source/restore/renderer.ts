// How a task tree is drawn: one of listr2's renderers by name, or a renderer class (the
// console's Ink renderer), with the options that renderer takes — typed from the renderer
// itself, so an option it does not know is a compile error.
import type { ListrGetRendererOptions, ListrRendererValue } from 'listr2';

export interface RendererChoice<Renderer extends ListrRendererValue = ListrRendererValue> {
	/** Default: 'silent' (the caller shows progress from the events instead). */
	renderer?: Renderer;
	rendererOptions?: ListrGetRendererOptions<Renderer>;
}
