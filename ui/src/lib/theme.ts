// The colour theme: `data-theme` on <html> picks the CSS variables in theme.css.
import type { Theme } from './backend/types';

export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  root.dataset.theme = theme;
}
