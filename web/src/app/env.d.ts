// Vite's ambient types for the app: `import "./x.css"` and friends.
/// <reference types="vite/client" />

/** highlight.js ships types for its core only; each language module default-exports a grammar. */
declare module "highlight.js/lib/languages/*" {
  const grammar: import("highlight.js").LanguageFn;
  export default grammar;
}
