// Vite's ambient types for the app: `import "./x.css"` and friends.
/// <reference types="vite/client" />
