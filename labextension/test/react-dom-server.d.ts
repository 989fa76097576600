/** The one function of react-dom/server the card tests use (react-dom comes with JupyterLab, untyped here). */
declare module 'react-dom/server' {
  import * as React from 'react';
  /** Render to HTML without React's attributes (what the tests read). */
  export function renderToStaticMarkup(element: React.ReactElement): string;
}
