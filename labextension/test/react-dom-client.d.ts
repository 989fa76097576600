/** The parts of react-dom/client the view tests use (react-dom comes with JupyterLab, untyped here). */
declare module 'react-dom/client' {
  import * as React from 'react';
  /** A React 18 root in a DOM element. */
  export interface Root {
    render(element: React.ReactElement): void;
    unmount(): void;
  }
  export function createRoot(container: Element): Root;
}
