// Types of the launcher's plain-JavaScript change to Ink (bin/ink-output-caches.js), for its test.
export declare function shareInkOutputCaches(source: string): string | null;
export declare const INK_OUTPUT: RegExp;
