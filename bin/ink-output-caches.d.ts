// Types of the launcher's plain-JavaScript change to Ink (bin/ink-output-caches.js), for its test.
import type { Plugin } from 'esbuild';

export declare function shareInkOutputCaches(source: string): string | null;
export declare function inkOutputCachesPlugin(): Plugin;
