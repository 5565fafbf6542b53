// The README's examples are whole programs: what they use without importing is the runtime's
// `console`, which Node's and the DOM's types both declare (this project compiles them with neither).
declare const console: { log(...values: unknown[]): void };
